"""`random_variables(model)`: random weights for any model, for property tests and benchmarks
that need a network but no training; `logits_by_group`: one forward pass over groups of
transformed inputs, for their exactness checks; `calibrate_batch_stats`: running BatchNorm
statistics measured on given images.

The variables are drawn in numpy from the shapes of model.init (jax.eval_shape: nothing is
compiled; jitting flax's own initialisers costs tens of seconds of XLA compile time on CPU).
Kernels are He-normal, biases and BatchNorm shifts small and random, BatchNorm scales near 1,
running means random and running variances in [0.5, 1.5], so eval-mode BatchNorm is not the
identity.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from models.layers import BATCH_NORM_MOMENTUM

# CIFAR-10 images (height, width, channels), as data.constants.IMAGE_SHAPE (not imported:
# importing data/ would load its data sources).
_CIFAR_IMAGE_SHAPE = (32, 32, 3)


def random_variables(model, image_shape: Sequence[int] = _CIFAR_IMAGE_SHAPE, seed: int = 1) -> dict:
  """The variables of `model` (a flax module taking (N, H, W, C) images and `train`) for
  inputs of `image_shape` (H, W, C), drawn with numpy's generator seeded by `seed`."""
  shapes = jax.eval_shape(functools.partial(model.init, train=False), jax.random.PRNGKey(0),
                          jnp.zeros((1, *image_shape)))
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    kind, shape = path[-1].key, leaf.shape
    if kind == "kernel":
      values = rng.normal(0.0, math.sqrt(2.0 / np.prod(shape[:-1])), shape)
    elif kind == "scale":
      values = 1.0 + 0.1 * rng.normal(size=shape)
    elif kind == "var":
      values = rng.uniform(0.5, 1.5, shape)
    else:  # bias, mean
      values = 0.1 * rng.normal(size=shape)
    return jnp.asarray(values, leaf.dtype)

  return jax.tree_util.tree_map_with_path(draw, shapes)


def logits_by_group(model, variables, groups: dict) -> dict:
  """Eval-mode logits of every group of inputs, from one jitted forward pass.

  Args:
    groups: name -> list of K arrays (B, H, W, C), e.g. an input and its transformed copies.
  Returns:
    name -> numpy logits (K, B, classes), in the order of the group's list.
  """
  batch = jnp.concatenate([image for images in groups.values() for image in images])
  logits = np.asarray(jax.jit(lambda v, b: model.apply(v, b, train=False))(variables, batch))
  result, start = {}, 0
  for name, images in groups.items():
    count = sum(image.shape[0] for image in images)
    result[name] = logits[start:start + count].reshape(len(images), images[0].shape[0], -1)
    start += count
  return result


def calibrate_batch_stats(model, variables: dict, images: jnp.ndarray) -> dict:
  """`variables` with every BatchNorm's running mean and variance replaced by the batch
  statistics of one train-mode forward pass over `images` (N, H, W, C), so that eval mode
  normalises as training would. Random running statistics are fine for ReLU networks, but a
  polynomial activation (models.alias_free.alias_free_poly) squares every mis-scaled map and
  overflows within a few layers without this."""
  zeros = jax.tree_util.tree_map(jnp.zeros_like, variables["batch_stats"])
  _, updates = model.apply(dict(variables, batch_stats=zeros), images, train=True,
                           mutable=["batch_stats"])
  # flax: running = momentum * running + (1 - momentum) * batch, from running = 0.
  batch_stats = jax.tree_util.tree_map(lambda s: s / (1.0 - BATCH_NORM_MOMENTUM),
                                       updates["batch_stats"])
  return dict(variables, batch_stats=batch_stats)
