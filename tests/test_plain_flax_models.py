"""The plain Flax networks of benchmarks/plain_flax_models.py are the same networks as the
zoo's: the same parameter count at the zoo's default options, for every name in PLAIN_MODELS
(so benchmarks/pytorch_peer.py compares like with like). Shapes only (jax.eval_shape): fast."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from benchmarks.plain_flax_models import PLAIN_MODELS
from data.constants import IMAGE_SHAPE

# A small width per model (multiples of the default head counts: vit 3, cct 4).
SMALL_WIDTHS = {"alexnet": 8, "alexnet_nostride": 8, "resnet20": 8, "resnet18": 8, "vit": 12,
                "cct": 8}


def _param_count(module) -> int:
  inputs = jax.ShapeDtypeStruct((1, *IMAGE_SHAPE), jnp.float32)
  shapes = jax.eval_shape(lambda x: module.init(jax.random.key(0), x, train=False), inputs)
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes["params"]))


def test_every_plain_model_has_a_small_width_here():
  assert set(SMALL_WIDTHS) == set(PLAIN_MODELS)


@pytest.mark.parametrize("name", sorted(SMALL_WIDTHS))
def test_plain_flax_model_has_the_zoo_models_parameter_count(name):
  width = SMALL_WIDTHS[name]
  zoo = _param_count(models.build_model(name, width=width))
  plain = _param_count(PLAIN_MODELS[name](width, jnp.float32))
  assert plain == zoo
  # Not vacuous: the count grows with the width in both.
  assert _param_count(PLAIN_MODELS[name](2 * width, jnp.float32)) > plain


@pytest.mark.parametrize("name", ["vit", "cct"])
def test_plain_transformers_default_widths_match_the_zoo(name):
  assert _param_count(PLAIN_MODELS[name](None, jnp.float32)) == _param_count(
      models.build_model(name))
