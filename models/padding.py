"""Spatial padding modes shared by every convolution, pooling and blur layer.

A padding mode is a function `pad(x, pads, fill) -> x` on NHWC arrays:
  x:    (N, H, W, C) array.
  pads: ((top, bottom), (left, right)) pixel counts.
  fill: value for constant padding ('zeros' mode: 0 for convolutions, -inf for max-pooling,
        so that padding never wins a max). Circular mode ignores it.
Returns (N, H + top + bottom, W + left + right, C).

'circular' wraps the map around (a torus), which makes every stride-1 layer exactly
equivariant to circular shifts; it works for any pad size, even pads larger than the map.
"""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

from common.registry import Registry

Pads = tuple[tuple[int, int], tuple[int, int]]
PadFn = Callable[[jnp.ndarray, Pads, float], jnp.ndarray]

PADDINGS: Registry[PadFn] = Registry("padding")


def same_pads(kernel_size: int) -> Pads:
  """Pads keeping a stride-1 map's size: floor((k-1)/2) before, ceil((k-1)/2) after.

  With stride s the output size is then ceil(size / s).
  """
  before = (kernel_size - 1) // 2
  after = kernel_size - 1 - before
  return ((before, after), (before, after))


@PADDINGS.register("zeros")
def pad_constant(x: jnp.ndarray, pads: Pads, fill: float = 0.0) -> jnp.ndarray:
  """Pads H and W with the constant `fill` (0 for convolutions, -inf for max-pooling)."""
  return jnp.pad(x, ((0, 0), *pads, (0, 0)), mode="constant", constant_values=fill)


@PADDINGS.register("circular")
def pad_circular(x: jnp.ndarray, pads: Pads, fill: float = 0.0) -> jnp.ndarray:
  """Pads H and W by wrapping around; `fill` is ignored."""
  del fill
  return jnp.pad(x, ((0, 0), *pads, (0, 0)), mode="wrap")


def pad_spatial(x: jnp.ndarray, pads: Pads, padding: str, fill: float = 0.0) -> jnp.ndarray:
  """Pads H and W of NHWC `x` with the padding mode named `padding` ('zeros' | 'circular')."""
  if not any(p for pair in pads for p in pair):
    return x
  return PADDINGS.get(padding)(x, pads, fill)
