"""'flip': horizontal (left-right) flip with probability `prob`; 'alternating_flip': every
example mirrored in every other epoch.

alternating_flip is the derandomised flip of Keller Jordan's airbench: in epoch 0 each
example is mirrored with probability 1/2 (a draw fixed for the example for the whole run);
in every later epoch it is mirrored exactly when it was not in the epoch before. Each
example is then seen in both orientations in every two consecutive epochs, instead of by
chance; over a run the same images are seen as with `flip` at prob 0.5, with less
repetition of one orientation. It needs each example's identity and the epoch
(augment.pipeline.ExampleAwarePolicy; training.steps passes them).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from augment.options import require_real
from augment.pipeline import ExampleAwarePolicy
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


def alternating_flip_draw(example_key: jax.Array, epoch: jnp.ndarray) -> jnp.ndarray:
  """Bool scalar: whether the example of `example_key` is mirrored in `epoch` (int32 scalar).

  A fair coin fixed per example decides epoch 0; the decision flips every epoch after.
  """
  first = jax.random.bernoulli(example_key, 0.5)
  return jnp.logical_xor(first, jnp.asarray(epoch) % 2 == 1)


@POLICIES.register("alternating_flip")
def alternating_flip_policy() -> ExampleAwarePolicy:
  """Factory (no options): see the module docstring."""

  def apply(example_key: jax.Array, epoch: jnp.ndarray, image: jnp.ndarray) -> jnp.ndarray:
    return jnp.where(alternating_flip_draw(example_key, epoch), flip_horizontal(image), image)

  return ExampleAwarePolicy(name="alternating_flip", apply=apply)
