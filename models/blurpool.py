"""BlurPool (Zhang 2019): a fixed binomial low-pass filter applied before subsampling."""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from common.errors import ConfigError
from models.padding import BLUR_PADDINGS, pad_spatial, same_pads

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
    raise ConfigError(f"blur_size must be an integer in 1..{MAX_BLUR_SIZE}, got {size!r}")
  row = np.array([math.comb(size - 1, k) for k in range(size)], dtype=np.float64)
  return row / row.sum()


class BlurPool(nn.Module):
  """Depthwise binomial blur, then subsampling by `stride`. No trainable parameters.

  Attributes:
    size: blur filter taps per axis (1..7; 1 = plain subsampling).
    stride: subsampling factor.
    padding: padding mode of the blur, a models.padding.BLUR_PADDINGS name: 'reflect'
      (default, as in Zhang's antialiased-cnns), 'zeros' (removes mass at the border: on an
      8x8 map of ones a 5-tap blur gives (11/16)^2 = 0.47 in a corner) or 'circular' (keeps a
      circular-padded model exactly equivariant to circular shifts).

  Input (N, H, W, C); output (N, ceil(H / stride), ceil(W / stride), C), same dtype. The map
  is padded by floor((size-1)/2) before and ceil((size-1)/2) after, so any map size works,
  including maps smaller than the filter (2x2 with size 7). Where a pad reaches the map size
  (2x2 and 4x4 maps, where PyTorch's ReflectionPad2d refuses), 'reflect' repeats the
  reflection as np.pad(mode='reflect') does (models/padding.py), so a constant map stays
  constant for every map and filter size.
  """
  size: int = 3
  stride: int = 2
  padding: str = "reflect"

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    row = binomial_filter(self.size)  # raises ValueError for an invalid size, before padding
    BLUR_PADDINGS.get(self.padding)  # raises UnknownNameError (listing names) before padding
    x = pad_spatial(x, same_pads(self.size), self.padding, fill=0.0, modes=BLUR_PADDINGS)
    return separable_blur_subsample(x, row, self.stride)


def _weighted_strided_sum(x: jnp.ndarray, taps: np.ndarray, stride: int, axis: int
                          ) -> jnp.ndarray:
  """y[i] = sum_k taps[k] * x[i * stride + k] along `axis` (a VALID, strided 1-D filter)."""
  out_size = (x.shape[axis] - len(taps)) // stride + 1
  total = None
  for offset, tap in enumerate(taps):
    part = jax.lax.slice_in_dim(x, offset, offset + stride * (out_size - 1) + 1, stride, axis)
    term = part * jnp.asarray(tap, x.dtype)
    total = term if total is None else total + term
  return total


def separable_blur_subsample(x: jnp.ndarray, row: np.ndarray, stride: int) -> jnp.ndarray:
  """The 2-D filter np.outer(row, row) applied VALID at `stride` to an already padded map.

  Computed as two 1-D passes of strided slices times taps: only the kept rows, then the
  kept columns, are ever formed. Equal to a depthwise conv_general_dilated with that kernel
  (tests check it), but made of elementwise ops that XLA fuses; on a 2-core CPU the depthwise
  convolution made a BlurPool ResNet-20 train about 3x slower than its strided version.

  Args:
    x: (N, H, W, C) padded map.
    row: (K,) taps per axis.
    stride: subsampling factor.
  Returns:
    (N, (H - K) // stride + 1, (W - K) // stride + 1, C), the dtype of x.
  """
  return _weighted_strided_sum(_weighted_strided_sum(x, row, stride, 1), row, stride, 2)


def depthwise_conv_blur_subsample(x: jnp.ndarray, row: np.ndarray, stride: int) -> jnp.ndarray:
  """The same function as separable_blur_subsample, as one depthwise convolution.

  The usual way to write BlurPool; kept as the reference that tests compare with and that
  benchmarks/blurpool_speed.py times against. Arguments and result as there.
  """
  size, channels = len(row), x.shape[-1]
  kernel = np.broadcast_to(np.outer(row, row)[:, :, None, None], (size, size, 1, channels))
  return jax.lax.conv_general_dilated(
      x, jnp.asarray(kernel, x.dtype), window_strides=(stride, stride), padding="VALID",
      dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=channels)
