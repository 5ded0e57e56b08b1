"""`random_variables(model)`: random weights for any model, for property tests and benchmarks
that need a network but no training; `logits_by_group`: one forward pass over groups of
transformed inputs, for their exactness checks; `calibrate_batch_stats`: running BatchNorm
statistics measured on given images; `scale_residual_branches`: residual branches at a
fraction of their random scale.

The variables are drawn in numpy from the shapes of model.init (jax.eval_shape: nothing is
compiled; jitting flax's own initialisers costs tens of seconds of XLA compile time on CPU).
Kernels are He-normal, biases and BatchNorm shifts small and random, norm scales (and the
attention temperatures of models/afvit.py) near 1,
running means random and running variances in [0.5, 1.5], so eval-mode BatchNorm is not the
identity; the coefficients and scales of the trainable polynomial activation
(models.afc.AFCPolyActivation) within 10% of their initial values, per channel.
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from models.afc import AFC_POLY_INIT, AFC_SCALE_INIT
from models.layers import BATCH_NORM_MOMENTUM

# The parameters of models.afc.AFCPolyActivation, by name -> their initial value.
_AFC_PARAMETERS = dict(zip(("constant", "linear", "quadratic"), AFC_POLY_INIT),
                       in_scale=AFC_SCALE_INIT, out_scale=AFC_SCALE_INIT)

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
    elif kind in ("scale", "temperature"):  # norm scales, the alias-free ViT's XCA heads
      values = 1.0 + 0.1 * rng.normal(size=shape)
    elif kind == "var":
      values = rng.uniform(0.5, 1.5, shape)
    elif kind in _AFC_PARAMETERS:  # near their initial value, every channel different
      values = _AFC_PARAMETERS[kind] * (1.0 + 0.1 * rng.normal(size=shape))
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


# A residual block's subtree in a ResNet's variables (models/resnet.py): stage{i}_block{j}.
_BLOCK_NAME = re.compile(r"stage\d+_block\d+")
_NORM_NAME = re.compile(r"norm(\d+)")


def scale_residual_branches(variables: dict, factor: float) -> dict:
  """`variables` with the scale of every residual branch's last norm times `factor`.

  The branch's last norm is the highest-numbered norm{i} of each stage{i}_block{j} subtree
  (norm2 of a basic block, norm3 of a bottleneck; not the shortcut's). Random scales near 1
  give a polynomial network (nonlinearity='afc_poly') branches at full strength from the
  start, which its training never sees (zero_init_residual starts them at 0); a fraction
  stands for a network some way into training. Models without such blocks are unchanged.
  """
  def scale_block(block: dict) -> dict:
    norms = [name for name in block if _NORM_NAME.fullmatch(name)]
    if not norms:
      return block
    last = max(norms, key=lambda name: int(_NORM_NAME.fullmatch(name).group(1)))
    if "scale" not in block[last]:
      return block
    return {**block, last: {**block[last], "scale": block[last]["scale"] * factor}}

  params = {name: scale_block(subtree) if _BLOCK_NAME.fullmatch(name) else subtree
            for name, subtree in variables["params"].items()}
  return dict(variables, params=params)
