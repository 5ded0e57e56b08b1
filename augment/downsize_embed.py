"""'downsize_embed': shrink the image and paste it at a random place of a fill canvas.

The training-side version of the "embedding" protocol of Azulay & Weiss (2019, sec. 2 and
fig. 10): each (H, H, C) image is resized, with an antialiasing filter, to a random integer
side length s in [min_size, max_size] and embedded at a random integer position (y, x) of an
(H, H) canvas of the fill colour. The image occupies exactly rows [y, y + s) and columns
[x, x + s); every other pixel is the fill colour.

Shapes stay static under jit: the resize is jax.image.scale_and_translate with a traced scale
s / H and translation (y, x) into a fixed (H, H) output, followed by an exact integer box mask.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from common.errors import ConfigError
from augment.fill import FILLS, FillSpec, fill_color
from augment.options import (require_bool, require_int, require_name, require_resize_method,
                             require_square)
from augment.registry import POLICIES
from data.constants import IMAGE_SHAPE


def embed_resized(image: jnp.ndarray, size, y, x, fill: FillSpec = "black", *,
                  method: str = "linear", antialias: bool = True) -> jnp.ndarray:
  """Resizes a square image to size x size and embeds it at (y, x) of a fill canvas.

  Matches jax.image.resize(image, (size, size, C), method, antialias) pasted into rows
  [y, y + size) and columns [x, x + size) of an (H, H, C) canvas of `fill` (up to float
  rounding, ~1e-4 pixel units); outside that box the output is exactly the fill colour.

  Args:
    image: (H, H, C) float pixel values.
    size: (traced) integer side length in [1, H].
    y, x: (traced) integer position of the top-left corner, each in [0, H - size].
    fill: a FILLS name ('black', 'mean') or a scalar / (C,) array of pixel values.
    method: resampling kernel for jax.image.scale_and_translate (default 'linear').
    antialias: low-pass filter when downsizing (default True).

  Returns:
    (H, H, C) array, same dtype. size == H, y == x == 0 returns `image` bitwise unchanged
    (with an interpolating kernel such as 'linear' or 'cubic').
  """
  side = require_square("embed_resized", image)
  channels = image.shape[-1]
  size = jnp.asarray(size, jnp.int32)
  y = jnp.asarray(y, jnp.int32)
  x = jnp.asarray(x, jnp.int32)
  scale = size.astype(jnp.float32) / side
  resized = jax.image.scale_and_translate(
      image, image.shape, (0, 1),
      scale=jnp.stack([scale, scale]),
      translation=jnp.stack([y, x]).astype(jnp.float32),
      method=method, antialias=antialias).astype(image.dtype)
  coords = jnp.arange(side)
  in_rows = (coords >= y) & (coords < y + size)
  in_cols = (coords >= x) & (coords < x + size)
  inside = in_rows[:, None] & in_cols[None, :]
  return jnp.where(inside[:, :, None], resized, fill_color(fill, channels, image.dtype))


def draw_embedding(key: jax.Array, side: int, min_size: int, max_size: int):
  """Draws (size, y, x): size uniform in [min_size, max_size], then y, x uniform in
  [0, side - size]. All int32 scalars."""
  size_key, position_key = jax.random.split(key)
  size = jax.random.randint(size_key, (), min_size, max_size + 1)
  y, x = jax.random.randint(position_key, (2,), 0, side - size + 1)
  return size, y, x


@POLICIES.register("downsize_embed")
def downsize_embed_policy(*, min_size: int = 16, max_size: int = 32, fill: str = "black",
                          method: str = "linear", antialias: bool = True):
  """Factory. min_size, max_size: range of the embedded side length in pixels,
  1 <= min_size <= max_size <= 32 (and <= the image side at trace time); fill: a FILLS name;
  method: resize kernel; antialias: low-pass filter when downsizing."""
  side_limit = IMAGE_SHAPE[0]
  min_size = require_int("downsize_embed.min_size", min_size, low=1, high=side_limit)
  max_size = require_int("downsize_embed.max_size", max_size, low=1, high=side_limit)
  if min_size > max_size:
    raise ConfigError(f"downsize_embed.min_size ({min_size}) must be <= "
                      f"downsize_embed.max_size ({max_size})")
  require_name("downsize_embed.fill", fill, FILLS)
  require_resize_method("downsize_embed.method", method)
  require_bool("downsize_embed.antialias", antialias)

  def augment_one(key: jax.Array, image: jnp.ndarray) -> jnp.ndarray:
    side = require_square("downsize_embed", image)
    if max_size > side:
      raise ConfigError(f"downsize_embed.max_size ({max_size}) exceeds the image side ({side})")
    size, y, x = draw_embedding(key, side, min_size, max_size)
    return embed_resized(image, size, y, x, fill, method=method, antialias=antialias)

  return augment_one
