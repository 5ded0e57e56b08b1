"""Continuous translations of feature maps, the generators of the layer-wise Lie derivative.

TRANSLATIONS: name -> translate(value, t, axis) -> value moved along `axis` (1: rows, y;
2: columns, x) of an (N, H, W, C) map; anything else (vectors after pooling) is returned
unchanged, as in Gruver et al.'s code (a non-image output has no translation to undo).

  'fourier'   the project's translation: t pixels of the INPUT image, so a map of cumulative
              stride s = 32 / H moves by t / s of its own samples, through the FFT phase ramp
              (common.fourier.fourier_shift: ideal interpolation on the torus; content moves
              towards higher indices for t > 0).
  'bilinear'  Gruver et al.'s (ICLR 2023, ngruver/lie-deriv data/transforms.py translate):
              an affine grid in normalised coordinates with align_corners, sampled
              bilinearly, reflected at the border. Sample i of the result reads position
              i + t (n - 1) / 2 of the map (n samples along the axis), so t = 1 is 15.5
              pixels of a 32-pixel image and the same FRACTION of every map (content moves
              towards lower indices for t > 0). At t = 0 its derivative is the forward
              difference (n - 1) / 2 (x[i + 1] - x[i]), with x[n] read as x[n - 2].
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from common.fourier import fourier_shift
from common.registry import Registry
from data.constants import IMAGE_SHAPE

SIDE = IMAGE_SHAPE[0]

Translate = Callable[[jnp.ndarray, jnp.ndarray, int], jnp.ndarray]
TRANSLATIONS: Registry[Translate] = Registry("translation")


def is_map(value) -> bool:
  """Whether `value` is an (N, H, W, C) feature map (the values a translation moves)."""
  return isinstance(value, jax.Array) and value.ndim == 4


@TRANSLATIONS.register("fourier")
def fourier_translate(value: jnp.ndarray, t, axis: int) -> jnp.ndarray:
  """`value` moved by t input pixels = t / stride of its own samples (module docstring)."""
  if not is_map(value):
    return value
  return fourier_shift(value, (t * value.shape[axis] / SIDE,), (axis,))


def _reflect(index: jnp.ndarray, size: int) -> jnp.ndarray:
  """Indices reflected into [0, size - 1] about the edge samples (one reflection)."""
  last = size - 1
  return last - jnp.abs(last - jnp.abs(index))


@TRANSLATIONS.register("bilinear")
def bilinear_translate(value: jnp.ndarray, t, axis: int) -> jnp.ndarray:
  """`value` resampled at i + t (n - 1) / 2 along `axis`, bilinearly, reflected at the
  border (module docstring); the sample positions' floor carries no derivative, as in the
  paper's grid_sample."""
  if not is_map(value) or value.shape[axis] == 1:
    return value
  size = value.shape[axis]
  position = jnp.arange(size, dtype=jnp.float32) + t * (size - 1) / 2
  floor = jax.lax.stop_gradient(jnp.floor(position))
  weight = (position - floor).astype(value.dtype)
  below = _reflect(floor.astype(jnp.int32), size)
  above = _reflect(floor.astype(jnp.int32) + 1, size)
  shape = [1] * value.ndim
  shape[axis] = size
  weight = weight.reshape(shape)
  return (jnp.take(value, below, axis=axis, mode="clip") * (1 - weight)
          + jnp.take(value, above, axis=axis, mode="clip") * weight)
