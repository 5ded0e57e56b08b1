"""Spatial padding modes of convolutions, pooling and blur layers.

A padding mode is a function `pad(x, pads, fill) -> x` on NHWC arrays:
  x:    (N, H, W, C) array.
  pads: ((top, bottom), (left, right)) pixel counts.
  fill: value for constant padding ('zeros' mode: 0 for convolutions, -inf for max-pooling,
        so that padding never wins a max). Circular mode ignores it.
Returns (N, H + top + bottom, W + left + right, C).

'circular' wraps the map around (a torus), which makes every stride-1 layer exactly
equivariant to circular shifts; it works for any pad size, even pads larger than the map.

Two registries:
  PADDINGS       the model's `padding` option, for every convolution and pooling layer:
                 'zeros' | 'circular'.
  BLUR_PADDINGS  the model's `blur_padding` option, for the BlurPool blur only: 'reflect'
                 (Zhang 2019's default) | 'zeros' | 'circular'; plus 'auto', resolved from
                 the model's padding by `resolve_blur_padding`.

'reflect' mirrors the map about its edge samples without repeating them (numpy's and
PyTorch's 'reflect': [a b c d] padded by 2 is [c b a b c d c b]). PyTorch's ReflectionPad2d
refuses a pad >= the map size, which the 2x2 and 4x4 maps of the CIFAR models need (a 7-tap
blur pads by 3). Here, as in np.pad(mode='reflect'), the reflection is then repeated: the
padded map is the map's even periodic extension with period 2 * (size - 1), e.g. [a b]
padded by 3 is [b a b a b a b a], and a 1-pixel map is repeated. It equals the single
reflection wherever that is defined, and a constant map stays constant for every pad.
"""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

from common.registry import Registry, UnknownNameError

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


def pad_reflect(x: jnp.ndarray, pads: Pads, fill: float = 0.0) -> jnp.ndarray:
  """Pads H and W by reflection about the edge samples, repeated for pads >= the map size
  (exactly np.pad(mode='reflect'); see the module docstring); `fill` is ignored."""
  del fill
  return jnp.pad(x, ((0, 0), *pads, (0, 0)), mode="reflect")


BLUR_PADDINGS: Registry[PadFn] = Registry("blur padding")
BLUR_PADDINGS.register("reflect")(pad_reflect)
BLUR_PADDINGS.register("zeros")(pad_constant)
BLUR_PADDINGS.register("circular")(pad_circular)

AUTO_BLUR_PADDING = "auto"


def resolve_blur_padding(blur_padding: str, padding: str) -> str:
  """The BLUR_PADDINGS name that the `blur_padding` option means in a model padded `padding`.

  'auto' is 'circular' in circular-padded models (so that a blur keeps the model's layers
  exactly equivariant to circular shifts) and 'reflect' (Zhang's default) otherwise; other
  names are returned unchanged.

  Raises:
    UnknownNameError: `blur_padding` is neither 'auto' nor a BLUR_PADDINGS name (the message
      lists all valid names).
  """
  if blur_padding == AUTO_BLUR_PADDING:
    return "circular" if padding == "circular" else "reflect"
  if blur_padding not in BLUR_PADDINGS:
    raise UnknownNameError(
        f"Unknown blur padding {blur_padding!r}. Valid names: "
        f"{', '.join([AUTO_BLUR_PADDING, *BLUR_PADDINGS.names()])}")
  return blur_padding


def pad_spatial(x: jnp.ndarray, pads: Pads, padding: str, fill: float = 0.0,
                modes: Registry[PadFn] = PADDINGS) -> jnp.ndarray:
  """Pads H and W of NHWC `x` with the padding mode named `padding` in `modes`
  (PADDINGS: 'zeros' | 'circular'; BLUR_PADDINGS adds 'reflect')."""
  if not any(p for pair in pads for p in pair):
    return x
  return modes.get(padding)(x, pads, fill)
