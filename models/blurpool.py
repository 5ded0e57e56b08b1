"""BlurPool (Zhang 2019): a fixed binomial low-pass filter applied before subsampling."""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from models.padding import pad_spatial, same_pads

MAX_BLUR_SIZE = 7


def binomial_filter(size: int) -> np.ndarray:
  """Normalised 1-D binomial filter of `size` taps (1..7), e.g. 3 -> [1, 2, 1] / 4.

  The 2-D blur kernel is np.outer(row, row). Entries are C(size-1, k) / 2**(size-1), so the
  row sums to 1 (the blur preserves the mean of a constant map).

  Raises:
    ValueError: `size` is not an integer in 1..7.
  """
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not (
      1 <= size <= MAX_BLUR_SIZE):
    raise ValueError(f"blur_size must be an integer in 1..{MAX_BLUR_SIZE}, got {size!r}")
  row = np.array([math.comb(size - 1, k) for k in range(size)], dtype=np.float64)
  return row / row.sum()


class BlurPool(nn.Module):
  """Depthwise binomial blur, then subsampling by `stride`. No trainable parameters.

  Attributes:
    size: blur filter taps per axis (1..7; 1 = plain subsampling).
    stride: subsampling factor.
    padding: padding mode name ('zeros' | 'circular'), same as the model's convolutions.

  Input (N, H, W, C); output (N, ceil(H / stride), ceil(W / stride), C), same dtype. The map
  is padded by floor((size-1)/2) before and ceil((size-1)/2) after, so any map size works,
  including maps smaller than the filter (2x2 with size 7).
  """
  size: int = 3
  stride: int = 2
  padding: str = "zeros"

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    row = binomial_filter(self.size)
    channels = x.shape[-1]
    kernel = np.broadcast_to(np.outer(row, row)[:, :, None, None],
                             (self.size, self.size, 1, channels))
    x = pad_spatial(x, same_pads(self.size), self.padding, fill=0.0)
    return jax.lax.conv_general_dilated(
        x,
        jnp.asarray(kernel, x.dtype),
        window_strides=(self.stride, self.stride),
        padding="VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=channels,
    )
