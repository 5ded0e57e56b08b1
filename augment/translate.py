"""'translate': integer shift of the image content by (dy, dx) pixels.

Mode 'circular' rolls the image (pixels leaving one side re-enter on the other, exactly
jnp.roll); mode 'fill' gives the shifted-in pixels a fill colour. Positive dy moves the content
down, positive dx moves it right.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from augment.fill import FILLS, FillSpec, fill_color
from augment.options import require_int, require_name
from augment.registry import POLICIES
from common.registry import Registry

# name -> shift_fn(image (H, W, C), dy, dx, fill) -> (H, W, C)
SHIFT_MODES: Registry[Callable] = Registry("translate mode")


@SHIFT_MODES.register("circular")
def shift_circular(image: jnp.ndarray, dy, dx, fill: FillSpec = "black") -> jnp.ndarray:
  """jnp.roll by (dy, dx) over (rows, columns); `fill` is unused."""
  del fill
  return jnp.roll(image, (dy, dx), axis=(0, 1))


@SHIFT_MODES.register("fill")
def shift_with_fill(image: jnp.ndarray, dy, dx, fill: FillSpec = "black") -> jnp.ndarray:
  """Shift by (dy, dx); output pixel (r, c) = image[r - dy, c - dx] if inside, else fill."""
  height, width, channels = image.shape
  rows = jnp.arange(height) - dy
  cols = jnp.arange(width) - dx
  inside = (((rows >= 0) & (rows < height))[:, None] & ((cols >= 0) & (cols < width))[None, :])
  rolled = jnp.roll(image, (dy, dx), axis=(0, 1))
  return jnp.where(inside[:, :, None], rolled, fill_color(fill, channels, image.dtype))


def shift_image(image: jnp.ndarray, dy, dx, mode: str = "circular",
                fill: FillSpec = "black") -> jnp.ndarray:
  """Shifts an (H, W, C) image by (traced) integers (dy, dx); mode is a SHIFT_MODES name."""
  return SHIFT_MODES.get(mode)(image, dy, dx, fill)


def draw_shift(key: jax.Array, max_shift: int) -> jnp.ndarray:
  """(2,) int32 (dy, dx), each uniform in [-max_shift, max_shift]."""
  return jax.random.randint(key, (2,), -max_shift, max_shift + 1)


@POLICIES.register("translate")
def translate_policy(*, max_shift: int = 4, mode: str = "circular", fill: str = "black"):
  """Factory. max_shift: largest |dy|, |dx| in pixels (>= 0); mode: a SHIFT_MODES name;
  fill: a FILLS name for mode 'fill'."""
  max_shift = require_int("translate.max_shift", max_shift, low=0)
  shift_fn = require_name("translate.mode", mode, SHIFT_MODES)
  require_name("translate.fill", fill, FILLS)

  def augment_one(key: jax.Array, image: jnp.ndarray) -> jnp.ndarray:
    dy, dx = draw_shift(key, max_shift)
    return shift_fn(image, dy, dx, fill)

  return augment_one
