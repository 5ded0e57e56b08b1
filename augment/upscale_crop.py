"""'upscale_crop': enlarge the image and crop a window of the original size.

The training-side "upscale and crop" augmentation of Azulay & Weiss (2019, fig. 10): each
(H, W, C) image is upscaled by a continuous factor `scale` drawn uniformly in [1, max_scale]
(to a conceptual H*scale x W*scale image) and the (H, W) window whose top-left corner sits at
the continuous position (y, x), uniform in [0, H*scale - H] x [0, W*scale - W], is kept.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from augment.options import require_real, require_resize_method
from augment.registry import POLICIES


def upscale_crop_at(image: jnp.ndarray, scale, y, x, *, method: str = "linear") -> jnp.ndarray:
  """Upscales `image` by `scale` and returns the (H, W) window at (y, x) of the result.

  Coordinates are pixel units of the upscaled image: output pixel (r, c) is the upscaled image
  sampled at (y + r, x + c); a 1-pixel change of y or x is a 1-pixel translation of the
  upscaled image. Implemented with jax.image.scale_and_translate (scale, translation -(y, x)).

  Args:
    image: (H, W, C) float pixel values.
    scale: (traced) float >= 1.
    y, x: (traced) real offsets, y in [0, H*scale - H], x in [0, W*scale - W].
    method: resampling kernel for jax.image.scale_and_translate (default 'linear').

  Returns:
    (H, W, C) array, same dtype. scale == 1, y == x == 0 returns `image` bitwise unchanged
    (with an interpolating kernel such as 'linear' or 'cubic').
  """
  scale = jnp.asarray(scale, jnp.float32)
  offset = jnp.stack([jnp.asarray(y, jnp.float32), jnp.asarray(x, jnp.float32)])
  return jax.image.scale_and_translate(
      image, image.shape, (0, 1), scale=jnp.stack([scale, scale]), translation=-offset,
      method=method, antialias=True).astype(image.dtype)


def draw_upscale_crop(key: jax.Array, height: int, width: int, max_scale: float):
  """Draws (scale, y, x): scale uniform in [1, max_scale], then y uniform in
  [0, height*scale - height] and x uniform in [0, width*scale - width]. Float32 scalars;
  exactly (1, 0, 0) when max_scale == 1."""
  scale_key, position_key = jax.random.split(key)
  scale = jax.random.uniform(scale_key, (), jnp.float32, 1.0, max_scale)
  unit_y, unit_x = jax.random.uniform(position_key, (2,), jnp.float32)
  return scale, unit_y * (height * scale - height), unit_x * (width * scale - width)


@POLICIES.register("upscale_crop")
def upscale_crop_policy(*, max_scale: float = 2.0, method: str = "linear"):
  """Factory. max_scale: largest upscaling factor (>= 1; 1 = identity); method: resize
  kernel."""
  max_scale = require_real("upscale_crop.max_scale", max_scale, low=1.0)
  require_resize_method("upscale_crop.method", method)

  def augment_one(key: jax.Array, image: jnp.ndarray) -> jnp.ndarray:
    height, width, _ = image.shape
    scale, y, x = draw_upscale_crop(key, height, width, max_scale)
    return upscale_crop_at(image, scale, y, x, method=method)

  return augment_one
