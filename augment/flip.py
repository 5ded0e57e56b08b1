"""'flip': horizontal (left-right) flip with probability `prob`."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from augment.options import require_real
from augment.registry import POLICIES


def flip_horizontal(image: jnp.ndarray) -> jnp.ndarray:
  """Mirrors an (H, W, C) image left-right (column j -> W - 1 - j)."""
  return image[:, ::-1, :]


def draw_flip(key: jax.Array, prob: float) -> jnp.ndarray:
  """Bool scalar: True with probability `prob` (never when prob == 0)."""
  return jax.random.bernoulli(key, prob)


@POLICIES.register("flip")
def flip_policy(*, prob: float = 0.5):
  """Factory. prob: probability in [0, 1] that an example is mirrored left-right."""
  prob = require_real("flip.prob", prob, low=0.0, high=1.0)

  def augment_one(key: jax.Array, image: jnp.ndarray) -> jnp.ndarray:
    return jnp.where(draw_flip(key, prob), flip_horizontal(image), image)

  return augment_one
