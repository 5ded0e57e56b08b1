"""Every intermediate output of a model, read through Flax's intermediate capture.

`model.apply(..., capture_intermediates=True, mutable=['intermediates'])` records the output
of every submodule's __call__ (convolutions, norms, BlurPools, residual blocks, dense layers)
without any change to the model. `capture_layers` flattens that collection into an ordered
dict, in execution order:

  'conv1' -> (N, 32, 32, C), 'norm1' -> ..., 'stage2_block1/conv1_blurpool' -> (N, 16, 16, C),
  'stage2_block1' -> (N, 16, 16, C) (a block's output), ..., 'fc1' -> (N, 384), 'classifier'

Names are module paths joined by '/'. The model's own output (the top-level __call__, equal
to its last layer) is left out. Outputs that are plain functions inside a module (a ReLU, a
max-pool between two modules) are not modules and are therefore not captured: they show up
as the input of the next captured module only (e.g. AlexNet's pool1 in 'conv2').

Spatial maps are (N, H, W, C); vectors (N, D). A map's cumulative stride relative to the
input is input_side / H (1 for stride-1 layers; 2 after one subsampling by 2; ...).
Token maps of the vision transformers (vit, cct, afvit: (N, T, C) sequences of a square grid
of T = h * h tokens in row-major order, models/transformer.py) are read as the grids they are,
(N, h, h, C); a one-token sequence (N, 1, C) is a vector (N, C). A sequence that is not a
square grid (T = h * h + 1 with a class token, pool='cls') has no grid to read: capture
refuses it (ConfigError naming the layers; layer_pattern can leave them out).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from common.errors import ConfigError
from data.constants import IMAGE_SHAPE
from data.normalize import normalize

CALL = "__call__"


def _flatten(tree: Mapping[str, Any], path: tuple[str, ...], out: dict[str, jnp.ndarray]):
  for key, value in tree.items():
    if key == CALL:
      if path:  # the top-level output (path ()) is the model's output: left out
        out["/".join(path)] = value[0]
    else:
      _flatten(value, path + (key,), out)


def capture_layers(model: nn.Module, variables, images: jnp.ndarray,
                   pattern: str = "") -> dict[str, jnp.ndarray]:
  """Every captured intermediate of `model` on `images`, in execution order.

  Args:
    model: a Flax module built by models.build_model (any module taking (x, train=False)).
    variables: its variables.
    images: (B, 32, 32, 3) pixel values in [0, 255]; normalised here as in evaluation.
    pattern: keep only layers whose name matches this regular expression (re.search);
      '' keeps all.
  Returns:
    name -> float32 array (B, H, W, C) or (B, D), in execution order.
  Raises:
    ValueError: the pattern is not a valid regular expression or matches no layer.
  """
  return capture_layers_and_output(model, variables, images, pattern)[1]


def capture_layers_and_output(model: nn.Module, variables, images: jnp.ndarray,
                              pattern: str = "") -> tuple[jnp.ndarray,
                                                          dict[str, jnp.ndarray]]:
  """(the model's output (B, classes) float32 logits, capture_layers(...)) from one pass."""
  output, state = model.apply(variables, normalize(images), train=False,
                              capture_intermediates=True, mutable=["intermediates"])
  layers: dict[str, jnp.ndarray] = {}
  _flatten(state["intermediates"], (), layers)
  if pattern:
    try:
      compiled = re.compile(pattern)
    except re.error as error:
      raise ConfigError(f"layer_pattern {pattern!r} is not a regular expression: {error}") from None
    selected = {name: value for name, value in layers.items() if compiled.search(name)}
    if not selected:
      raise ConfigError(f"layer_pattern {pattern!r} matches no layer; layers: "
                        f"{', '.join(layers)}")
    layers = selected
  return output.astype(jnp.float32), {name: as_grid(value).astype(jnp.float32)
                                      for name, value in tokens_checked(layers).items()}


def grid_side(tokens: int) -> int | None:
  """h where `tokens` = h * h (h >= 1), else None."""
  side = math.isqrt(tokens)
  return side if side * side == tokens else None


def as_grid(value: jnp.ndarray) -> jnp.ndarray:
  """A token sequence (N, h * h, C) as its row-major grid (N, h, h, C), one token (N, 1, C)
  as a vector (N, C); anything else unchanged."""
  if value.ndim != 3 or grid_side(value.shape[1]) is None:
    return value
  side = grid_side(value.shape[1])
  if side == 1:
    return value[:, 0]
  return value.reshape(value.shape[0], side, side, value.shape[2])


def tokens_checked(layers: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
  """`layers`, if none is a token sequence that is not a square grid.

  Raises:
    ConfigError: names those layers (a class token makes T = h * h + 1: no grid to read).
  """
  odd = [f"{name} {tuple(value.shape[1:])}" for name, value in layers.items()
         if value.ndim == 3 and grid_side(value.shape[1]) is None]
  if odd:
    raise ConfigError(
        f"the layer analyses read token maps as square grids, and these layers' token "
        f"sequences are not one (a class token, pool='cls'?): {', '.join(odd)}; leave them "
        "out with the config's layer_pattern, or analyse a model with pool='gap'")
  return layers


def spatial_layers(layers: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
  """The (B, H, W, C) maps of `layers`, in order."""
  return {name: value for name, value in layers.items() if value.ndim == 4}


def layer_shapes(model: nn.Module, variables, pattern: str = "") -> dict[str, tuple[int, ...]]:
  """name -> per-image shape ((H, W, C) or (D,)) of every captured layer, in execution order
  (traced, not run). Jitted functions return their layers as a tuple in this order, since
  JAX sorts the keys of returned dicts."""
  order: list[tuple[str, tuple[int, ...]]] = []

  def trace(v):
    layers = capture_layers(model, v, jnp.zeros((1,) + IMAGE_SHAPE), pattern)
    order.extend((name, tuple(value.shape[1:])) for name, value in layers.items())
    return tuple(layers.values())

  jax.eval_shape(trace, variables)
  return dict(order)
