"""'crop': the standard CIFAR pad-and-crop.

The (H, W, C) image is padded by `pad` pixels on every side (with a fill colour or by
reflection) and an (H, W) window is taken at an integer offset (y, x) in [0, 2 * pad]^2,
i.e. the content moves by (pad - y, pad - x) pixels.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from augment.fill import fill_color
from augment.options import require_int, require_name
from augment.registry import POLICIES
from common.registry import Registry

# name -> pad_fn(image (H, W, C), pad) -> (H + 2 pad, W + 2 pad, C)
PADDINGS: Registry[Callable[[jnp.ndarray, int], jnp.ndarray]] = Registry("crop padding")


def _constant_padding(fill_name: str):
  def pad_with_constant(image: jnp.ndarray, pad: int) -> jnp.ndarray:
    height, width, channels = image.shape
    color = fill_color(fill_name, channels, image.dtype)
    canvas = jnp.broadcast_to(color, (height + 2 * pad, width + 2 * pad, channels))
    return jax.lax.dynamic_update_slice(canvas, image, (pad, pad, 0))
  return pad_with_constant


PADDINGS.register("black")(_constant_padding("black"))
PADDINGS.register("mean")(_constant_padding("mean"))


@PADDINGS.register("reflect")
def pad_reflect(image: jnp.ndarray, pad: int) -> jnp.ndarray:
  """Mirror padding without repeating the edge pixel (numpy 'reflect')."""
  return jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")


@PADDINGS.register("edge")
def pad_edge(image: jnp.ndarray, pad: int) -> jnp.ndarray:
  """Repeats the border pixels."""
  return jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")


def pad_and_crop_at(image: jnp.ndarray, pad: int, y, x, fill: str = "black") -> jnp.ndarray:
  """Pads `image` by `pad` pixels and returns the (H, W) window at offset (y, x).

  Args:
    image: (H, W, C) float pixel values.
    pad: static non-negative int.
    y, x: (traced) integer offsets into the padded image, each in [0, 2 * pad].
    fill: a name in PADDINGS ('black', 'mean', 'reflect', 'edge').

  Returns:
    (H, W, C) array, same dtype. pad == 0 (so y == x == 0) returns `image` unchanged.
  """
  height, width, channels = image.shape
  padded = PADDINGS.get(fill)(image, pad)
  return jax.lax.dynamic_slice(padded, (y, x, 0), (height, width, channels))


def draw_crop_offset(key: jax.Array, pad: int) -> jnp.ndarray:
  """(2,) int32 (y, x), each uniform in [0, 2 * pad]."""
  return jax.random.randint(key, (2,), 0, 2 * pad + 1)


@POLICIES.register("crop")
def crop_policy(*, pad: int = 4, fill: str = "black"):
  """Factory. pad: pixels of padding per side (>= 0); fill: a name in PADDINGS."""
  pad = require_int("crop.pad", pad, low=0)
  require_name("crop.fill", fill, PADDINGS)

  def augment_one(key: jax.Array, image: jnp.ndarray) -> jnp.ndarray:
    y, x = draw_crop_offset(key, pad)
    return pad_and_crop_at(image, pad, y, x, fill)

  return augment_one
