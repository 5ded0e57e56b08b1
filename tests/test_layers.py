"""Analyses inside the network (evaluate/layers): property tests with random weights, tiny widths."""
import functools
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from evaluate.layers import shiftability
from models.alias_free import alias_free_poly

SHIFTS = ((1, 0), (0, 1), (3, -2))


@functools.lru_cache(maxsize=None)
def _model(name, **options):
  model = models.build_model(name, width=4, padding="circular", hidden_units=(8,), **options)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  return model, variables


def _images(count=2, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


@pytest.mark.slow
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


@pytest.mark.slow
def test_crop_shift_is_equivariant_away_from_the_border_at_the_first_layer():
  # conv1 (5x5) reads 2 pixels around each output; a crop moved by 1 pixel differs from the
  # roll only in a 1-pixel strip, so outputs more than 3 pixels from the edges are unchanged.
  model, variables = _model("alexnet_nostride")
  errors = shiftability.shiftability_by_layer(model, variables, _images(1), shifts=((1, 0), (0, -1)),
                                              mode="crop", pattern="^(conv1|norm1)$",
                                              border_pixels=4, images_per_chunk=1)
  assert list(errors) == ["conv1", "norm1"]
  assert max(np.max(v["equivariance_error"]) for v in errors.values()) < 1e-5
  # The global sum is taken over the same mask: unchanged too.
  assert max(np.max(v["global_sum_change"]) for v in errors.values()) < 1e-5
  whole = shiftability.shiftability_by_layer(model, variables, _images(1), shifts=((1, 0),),
                                             mode="crop", pattern="^conv1$", border_pixels=0,
                                             images_per_chunk=1)
  assert np.min(whole["conv1"]["equivariance_error"]) > 1e-3  # the border itself changes
  assert np.min(whole["conv1"]["global_sum_change"]) > 1e-4  # and so does its global sum


@pytest.mark.slow
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


@pytest.mark.slow
def test_alignment_identity_and_translation_of_stride1_circular_maps_are_exact():
  from evaluate.layers import alignment  # pylint: disable=g-import-not-at-top
  model, variables = _model("alexnet_nostride")
  transforms = alignment.build_transforms(translations=((0, 0), (2, -3)), scales=(1.25,))
  errors = alignment.alignment_by_layer(model, variables, _images(), transforms,
                                        images_per_chunk=2, border_pixels=4)
  for name, values in errors.items():
    assert values.shape == (2, 3)
    assert np.max(values[:, :2]) < 1e-4, name  # identity and translation: aligned exactly
  # A rescaled image's maps are not the rescaled maps (random 5x5 filters are not scale invariant).
  assert np.min(errors["conv1"][:, 2]) > 1e-2


@pytest.mark.slow
def test_alignment_tries_whole_sample_moves_and_aligns_aps_maps_exactly():
  """APS moves its stride-s maps by whole samples: at stride 4 a 3-pixel shift moves them by 0
  or 1 samples, which 3/4 + {-1/2, 0, 1/2} misses (0.10 error at stage 3 without floor and
  ceil, measured); with them every layer of a circular APS ResNet aligns exactly."""
  from evaluate.layers import alignment  # pylint: disable=g-import-not-at-top
  table = alignment.candidate_shifts((2, 3), (4.0, 4.0), (-0.5, 0.0, 0.5))
  assert {0.0, 1.0} <= set(table[:, 1]) and 0.75 + 0.5 in set(table[:, 1])
  assert set(table[:, 0]) == {0.0, 0.5, 1.0}
  from models.random_weights import random_variables  # pylint: disable=g-import-not-at-top
  model = models.build_model("resnet20", width=4, padding="circular", downsample="aps",
                             blur_size=1)
  variables = random_variables(model)  # (flax's eager init of a ResNet: tens of seconds)
  errors = alignment.alignment_by_layer(model, variables, _images(1),
                                        alignment.build_transforms(translations=((2, 3),)),
                                        pattern=r"^(stem_norm|stage\d_block3|classifier)$",
                                        images_per_chunk=1)
  assert list(errors) == ["stem_norm", "stage1_block3", "stage2_block3", "stage3_block3",
                          "classifier"]
  for name, values in errors.items():
    assert np.max(values) < 1e-5, name


@pytest.mark.slow
def test_alignment_identity_is_exact_for_a_strided_model_and_bad_transforms_fail():
  from evaluate.layers import alignment  # pylint: disable=g-import-not-at-top
  model, variables = _model("alexnet", downsample="stride")
  errors = alignment.alignment_by_layer(model, variables, _images(1),
                                        alignment.build_transforms(translations=((0, 0),)),
                                        images_per_chunk=1)
  assert max(float(np.max(v)) for v in errors.values()) < 1e-5
  for bad in (dict(scales=(0.0,)), dict(rotations=(4,)), dict(translations=((1.5, 0),)), {}):
    with pytest.raises(ValueError):
      alignment.build_transforms(**bad)


class _PolynomialNet(nn.Module):
  """Stride-1 circular convolutions, inference BatchNorm and the degree-2 polynomial on the x2
  grid, then global average pooling: every layer commutes with every continuous Fourier shift
  of an input without Nyquist content, by construction."""

  @nn.compact
  def __call__(self, x, train=False):
    del train
    for index in (1, 2):
      x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")
      x = nn.Conv(4, (3, 3), padding="VALID", name=f"conv{index}")(x)
      x = nn.BatchNorm(use_running_average=True, name=f"norm{index}")(x)
      x = alias_free_poly(x)
    return nn.Dense(3, name="classifier")(x.mean((1, 2)))


@pytest.mark.slow
def test_lie_derivative_is_zero_at_every_layer_of_a_network_equivariant_by_construction():
  from evaluate.layers import lie_derivative  # pylint: disable=g-import-not-at-top
  model = _PolynomialNet()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  per_layer, end_to_end = lie_derivative.lie_derivative_by_layer(
      model, variables, _images(), band_limit=True, images_per_chunk=2)
  assert list(per_layer) == ["conv1", "norm1", "conv2", "norm2", "classifier"]
  for name, values in per_layer.items():
    assert values["relative_lie_derivative"].shape == (2, 2)  # images x (y, x)
    assert np.max(values["relative_lie_derivative"]) < 1e-5, name
  assert np.max(end_to_end) < 1e-6
  # (On raw images the first polynomial sees Nyquist content and aliases: conv2 then has a
  # Lie derivative, test_lie_derivative_agrees_with_a_finite_difference.)


@pytest.mark.slow
def test_lie_derivative_of_a_stride1_circular_relu_network_sees_the_relu_alias():
  """Exactly invariant to integer rolls, but not to continuous translations: zero up to float
  rounding before the first ReLU, not after it (Gruver et al.'s aliasing of nonlinearities)."""
  from evaluate.layers import lie_derivative  # pylint: disable=g-import-not-at-top
  model, variables = _model("alexnet_nostride")
  per_layer, _ = lie_derivative.lie_derivative_by_layer(model, variables, _images(),
                                                        images_per_chunk=2)
  for name in ("conv1", "norm1"):
    assert np.max(per_layer[name]["relative_lie_derivative"]) < 1e-5, name
  for name in ("conv2", "fc1", "classifier"):
    assert np.min(per_layer[name]["relative_lie_derivative"]) > 1e-2, name


def _finite_difference_gaps(model, variables, images, axis, step):
  """name -> (||central difference - L F||, ||L F||, ||F||), the central difference of
  S_{-t/s} F(T_t x) at t = +-step along image axis `axis`."""
  from common.fourier import fourier_shift  # pylint: disable=g-import-not-at-top
  from evaluate.layers import lie_derivative  # pylint: disable=g-import-not-at-top
  from evaluate.layers.capture import capture_layers  # pylint: disable=g-import-not-at-top
  x = jnp.asarray(images, jnp.float32)
  layers, derivatives, _ = jax.jit(functools.partial(
      lie_derivative.lie_derivatives, model, variables, axis=axis))(x)

  @jax.jit
  def moved(t):
    return {name: lie_derivative._moved_back(value, t, axis)  # pylint: disable=protected-access
            for name, value in capture_layers(model, variables,
                                              fourier_shift(x, (t,), (axis,))).items()}

  plus, minus = moved(step), moved(-step)
  assert set(plus) == set(layers) == set(derivatives)
  return {name: (float(np.linalg.norm((plus[name] - minus[name]) / (2 * step) - derivative)),
                 float(np.linalg.norm(derivative)), float(np.linalg.norm(layers[name])))
          for name, derivative in derivatives.items()}


@pytest.mark.slow
def test_lie_derivative_agrees_with_a_finite_difference():
  """A smooth network (polynomial, raw images: L != 0 after the first polynomial) agrees to
  1e-3; a strided ReLU network to the finite difference's own error, a few percent (ReLUs and
  max-pools switching within +-step: 1.2% measured on conv2 here; float rounding
  ~1e-7 ||F|| / step)."""
  model = _PolynomialNet()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  gaps = _finite_difference_gaps(model, variables, _images(), 2, 1e-2)  # along x
  assert gaps["conv1"][1] < 1e-5 * gaps["conv1"][2]  # before any polynomial: 0
  assert gaps["conv2"][1] > 1e-2 * gaps["conv2"][2]  # raw images alias: worth comparing
  for name, (gap, derivative, value) in gaps.items():
    assert gap <= 1e-3 * derivative + 1e-4 * value, (name, gap, derivative, value)
  model, variables = _model("alexnet", downsample="stride")
  gaps = _finite_difference_gaps(model, variables, _images(), 1, 3e-4)  # along y
  assert gaps["conv2"][1] > 0.1 * gaps["conv2"][2]
  for name, (gap, derivative, value) in gaps.items():
    assert gap <= 5e-2 * derivative + 1e-3 * value, (name, gap, derivative, value)


@pytest.mark.slow
def test_readout_trainer_separates_a_separable_problem():
  from evaluate.layers import readout  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 3, 300)
  centres = rng.normal(size=(3, 6)) * 4
  features = (centres[labels] + rng.normal(size=(300, 6)), rng.normal(size=(300, 2)))
  readouts = readout.train_readouts(features, labels, 3, epochs=5, batch_size=32,
                                    learning_rate=0.05, weight_decay=0.0)
  separable, noise = readout.readout_predictions(readouts, features)
  assert np.mean(separable == labels) > 0.95
  assert np.mean(noise == labels) < 0.6  # pure noise features: near chance
  with pytest.raises(ValueError):
    readout.train_readouts((np.full((4, 2), np.nan),), labels[:4], 3, epochs=1, batch_size=2,
                           learning_rate=0.1, weight_decay=0.0)


def test_typicality_of_a_training_image_against_a_set_containing_it_is_the_maximum():
  from evaluate.layers import typicality  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  bank = rng.normal(size=(20, 5)).astype(np.float32)
  correlations, neighbours = typicality.nearest_neighbours(bank[:6], bank, 3)
  np.testing.assert_array_equal(neighbours[:, 0], np.arange(6))  # its own nearest neighbour
  np.testing.assert_allclose(typicality.typicality(bank[:6], bank, 1), 1.0, atol=1e-5)
  assert np.all(correlations <= 1 + 1e-5) and np.all(np.diff(correlations, axis=1) <= 1e-6)
  outside = rng.normal(size=(4, 5)).astype(np.float32)
  assert np.all(typicality.typicality(outside, bank, 1) < 1 - 1e-3)
  np.testing.assert_array_equal(typicality.typicality_bins(np.array([0.3, 0.1, 0.9, 0.5]), 2),
                                [0, 0, 1, 1])
  with pytest.raises(ValueError):
    typicality.nearest_neighbours(bank[:2], bank, 21)


def _tiny_workdir(tmp_path):
  """A workdir holding a random-init AlexNet (width 4) checkpoint, as train.py writes it."""
  from tests.conftest import tiny_config  # pylint: disable=g-import-not-at-top
  from runtime import checkpointing, run_files  # pylint: disable=g-import-not-at-top
  config = tiny_config()
  config.model.width = 4
  config.model.hidden_units = (8,)
  model = models.build_model(**config.model)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  workdir = tmp_path / "run"
  with checkpointing.CheckpointWriter(str(workdir), keep=1) as writer:
    writer.save(1, {"params": variables["params"], "batch_stats": variables["batch_stats"]},
                json.loads(config.to_json()))
  (workdir / run_files.CONFIG_FILE).write_text(config.to_json())
  return str(workdir)


@pytest.mark.slow
def test_analyse_workdir_writes_the_report_and_fails_early_on_bad_config(tmp_path):
  from common.registry import UnknownNameError  # pylint: disable=g-import-not-at-top
  from data.arrays import CifarArrays  # pylint: disable=g-import-not-at-top
  from evaluate.layers import compare, config as layers_config, runner  # pylint: disable=g-import-not-at-top
  workdir = _tiny_workdir(tmp_path)
  config = layers_config.default_layers_config()
  config.analyses = "shiftability,lie_derivative,lie_derivative_layerwise"
  config.num_images, config.images_per_chunk = 2, 2
  config.shiftability.shifts = ((1, 0),)
  config.shiftability.feature_map_images = 1
  config.shiftability.feature_map_shifts = 2
  config.shiftability.feature_map_layers = 1
  images = _images(4)
  data = CifarArrays(images, np.arange(4) % 10, images, np.arange(4) % 10,
                     tuple(str(i) for i in range(10)))
  report = runner.analyse_workdir(workdir, config, data=data, verbose=False)
  layers = report["analyses"]["shiftability"]["layers"]
  assert [entry["name"] for entry in layers][:2] == ["conv1", "norm1"]
  assert layers[0]["stride"] == 1 and layers[2]["stride"] == 2
  assert (tmp_path / "run/eval/layers/layers.json").exists()
  assert len(report["analyses"]["shiftability"]["files"]) == 2
  lie = report["analyses"]["lie_derivative"]
  assert [entry["name"] for entry in lie["layers"]] == [entry["name"] for entry in layers]
  assert all(entry["relative_lie_derivative"]["mean"] >= 0 for entry in lie["layers"])
  assert lie["layers"][2]["target"] == "equivariance" and lie["layers"][-1]["target"] == (
      "invariance")
  assert set(lie["end_to_end"]["per_axis"]) == {"y", "x"}
  assert os.path.exists(lie["files"][0])
  layerwise = report["analyses"]["lie_derivative_layerwise"]
  assert [entry["name"] for entry in layerwise["layers"]][:4] == ["conv1", "norm1", "act1",
                                                                   "max_pool"]
  assert layerwise["end_to_end"]["mean"] > 0 and layerwise["translation"] == "fourier"
  assert layerwise["sum_residual"]["max_relative"] < 1e-4  # every operation is in a unit
  assert all(os.path.exists(path) for path in layerwise["files"])
  assert compare.compare_workdirs([workdir, workdir], str(tmp_path / "cmp"))
  bad = layers_config.default_layers_config()
  bad.analyses = "shiftability,nope"
  with pytest.raises(UnknownNameError):
    runner.analyse_workdir(workdir, bad, data=data, verbose=False)
  bad.analyses = "shiftability"
  bad.shiftability.mode = "wrap"
  with pytest.raises(UnknownNameError):
    runner.analyse_workdir(workdir, bad, data=data, verbose=False)
  bad.shiftability.mode = "circular"
  bad.layer_pattern = "no_such_layer"
  with pytest.raises(ValueError, match="matches no layer"):
    runner.analyse_workdir(workdir, bad, data=data, verbose=False)
