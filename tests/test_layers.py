"""Analyses inside the network (evaluate/layers): property tests with random weights, tiny widths."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from evaluate.layers import shiftability

SHIFTS = ((1, 0), (0, 1), (3, -2))


@functools.lru_cache(maxsize=None)
def _model(name, **options):
  model = models.build_model(name, width=4, padding="circular", hidden_units=(8,), **options)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  return model, variables


def _images(count=2, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def test_stride1_circular_model_is_equivariant_at_every_layer():
  model, variables = _model("alexnet_nostride")
  errors = shiftability.shiftability_by_layer(model, variables, _images(), shifts=SHIFTS,
                                              images_per_chunk=2)
  assert list(errors)[:4] == ["conv1", "norm1", "conv2", "norm2"] and "fc1" in errors
  for name, values in errors.items():
    assert values["equivariance_error"].shape == (2, len(SHIFTS))
    assert np.max(values["equivariance_error"]) < 1e-4, name
    if name.startswith(("conv", "norm")):
      assert np.max(values["global_sum_change"]) < 1e-4, name


def test_strided_model_is_not_shiftable_after_subsampling():
  model, variables = _model("alexnet", downsample="stride")
  errors = shiftability.shiftability_by_layer(model, variables, _images(), shifts=SHIFTS,
                                              images_per_chunk=2)
  # Before the first subsampling the circular-padded layers are still exactly equivariant.
  assert np.max(errors["conv1"]["equivariance_error"]) < 1e-4
  # After it (stride 2), a one-pixel shift is half a sample: the map is not shiftable.
  assert np.min(errors["conv2"]["equivariance_error"].mean(1)) > 1e-2
  assert np.min(errors["fc1"]["equivariance_error"].mean(1)) > 1e-3


def test_bad_shifts_and_mode_fail():
  with pytest.raises(ValueError):
    shiftability.check_shifts([(1, 0, 2)])
  with pytest.raises(ValueError):
    shiftability.check_shifts([])
  from common.registry import UnknownNameError  # pylint: disable=g-import-not-at-top
  with pytest.raises(UnknownNameError):
    shiftability.SHIFT_MODES.get("wrap")
