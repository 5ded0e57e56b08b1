"""Alias-free building blocks (Michaeli, Michaeli & Soudry, CVPR 2023), all circular (FFT).

A feature map of size n along an axis is read as the samples of a band-limited periodic
signal; its discrete Fourier coefficients are indexed by the frequency k in (-n/2, n/2].

  ideal_resize(x, (m_h, m_w))  resamples that signal onto an m_h x m_w grid by keeping only the
      frequencies |k| < m/2 (strictly below the new grid's Nyquist frequency) when the grid
      shrinks, or by zero-padding the spectrum when it grows (an even-size map's Nyquist bin
      is split equally between +n/2 and -n/2 so the result stays real).
  ideal_downsample(x, stride)  the ideal low-pass + subsampling: ideal_resize to
      ceil(H / stride) x ceil(W / stride), the output size of every other strategy. Odd sizes
      work: the new grid simply has a spacing of H / m input pixels.
  alias_free_relu(x)  upsample x2 (spectrum zero-padding), ReLU, ideal low-pass back to the
      original size.
  alias_free_poly(x)  the same with the degree-2 polynomial RELU_POLY instead of the ReLU
      (Michaeli et al.'s polynomial activation): no aliasing at all, see below.

Exactness (the reason these exist): a circular integer shift by d input pixels becomes a
shift by d * m / n pixels of the resampled map in the Fourier sense (the phase ramp
exp(-2 pi i k d m / n)), exactly, because no kept frequency aliases. Circular convolutions,
per-channel affine maps and global average pooling commute with such Fourier shifts exactly;
a ReLU on the x2-upsampled grid commutes with them exactly only where the Fourier shift is an
integer number of fine-grid pixels. So one stage of ideal downsampling followed by
alias_free_relu keeps integer shifts exact, and deeper stages are exact only up to the
aliasing the ReLU itself creates (measured in tests/test_polyphase.py and in README).
A degree-2 polynomial creates no such aliasing: if the map holds only frequencies |k| < n/2,
its square holds only |k| < n, which the 2n grid of the x2 upsampling represents without
folding (its Nyquist bin is n). So alias_free_poly commutes exactly with every Fourier shift of
a map with no Nyquist content (every map after the first ideal downsampling), and a network of
circular convolutions, ideal downsampling, affine norms, alias_free_poly and global average
pooling is invariant up to float rounding to every integer circular shift of its input, and
to every sub-pixel Fourier shift of a band-limited input.

The downsampling strategy 'ideal' (IdealDownsampler, below) runs every strided op at stride 1
and then ideal_downsample. All functions take and return NHWC arrays; the FFTs run in float32 (complex64) whatever the
input dtype, and the result is cast back to the input dtype.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import jax
import jax.numpy as jnp

from models.downsample import DOWNSAMPLERS, Downsampler


def _resize_spectrum_axis(spectrum: jnp.ndarray, axis: int, new_size: int) -> jnp.ndarray:
  """Moves the DFT coefficients along `axis` from size n to `new_size` (crop or zero-pad).

  Shrinking keeps |k| <= ceil(new_size / 2) - 1 (the new Nyquist bin and above are cut);
  growing keeps every |k| < n / 2 and splits an even n's Nyquist bin equally between the
  bins +n/2 and -n/2 of the larger grid.
  """
  size = spectrum.shape[axis]
  if new_size == size:
    return spectrum

  def part(start: int, stop: int) -> jnp.ndarray:
    return jax.lax.slice_in_dim(spectrum, start, stop, axis=axis)

  def zeros(count: int) -> jnp.ndarray:
    shape = list(spectrum.shape)
    shape[axis] = count
    return jnp.zeros(shape, spectrum.dtype)

  if new_size < size:
    kmax = min(math.ceil(new_size / 2), math.ceil(size / 2)) - 1
    pieces = [part(0, kmax + 1), zeros(new_size - 2 * kmax - 1)]
    if kmax > 0:
      pieces.append(part(size - kmax, size))
    return jnp.concatenate(pieces, axis=axis)
  if size % 2:  # odd: no Nyquist bin
    kmax = (size - 1) // 2
    pieces = [part(0, kmax + 1), zeros(new_size - size)]
    if kmax > 0:
      pieces.append(part(size - kmax, size))
    return jnp.concatenate(pieces, axis=axis)
  half = size // 2
  nyquist = part(half, half + 1) / 2
  return jnp.concatenate([part(0, half), nyquist, zeros(new_size - size - 1), nyquist,
                          part(half + 1, size)], axis=axis)


def ideal_resize(x: jnp.ndarray, new_hw: Sequence[int]) -> jnp.ndarray:
  """Band-limited (FFT) circular resampling of x: (N, H, W, C) -> (N, m_h, m_w, C).

  Values are preserved (a constant map stays the same constant); see the module docstring
  for which frequencies are kept.
  """
  height, width = x.shape[1], x.shape[2]
  new_h, new_w = int(new_hw[0]), int(new_hw[1])
  if (new_h, new_w) == (height, width):
    return x
  spectrum = jnp.fft.fft2(x.astype(jnp.float32), axes=(1, 2))
  spectrum = _resize_spectrum_axis(spectrum, 1, new_h)
  spectrum = _resize_spectrum_axis(spectrum, 2, new_w)
  y = jnp.fft.ifft2(spectrum, axes=(1, 2)).real * ((new_h * new_w) / (height * width))
  return y.astype(x.dtype)


def ideal_downsample(x: jnp.ndarray, stride: int) -> jnp.ndarray:
  """Ideal low-pass at the new Nyquist frequency, then subsampling by `stride`.

  (N, H, W, C) -> (N, ceil(H / stride), ceil(W / stride), C); stride 1 is the identity.
  """
  if stride == 1:
    return x
  return ideal_resize(x, (-(-x.shape[1] // stride), -(-x.shape[2] // stride)))


def on_doubled_grid(pointwise, x: jnp.ndarray) -> jnp.ndarray:
  """`pointwise` evaluated on the x2 band-limited upsampling of x, ideally low-passed back.

  (N, H, W, C) -> (N, H, W, C); the output has no content at or above H/2 (W/2).
  """
  height, width = x.shape[1], x.shape[2]
  upsampled = ideal_resize(x, (2 * height, 2 * width))
  return ideal_resize(pointwise(upsampled), (height, width))


def alias_free_relu(x: jnp.ndarray) -> jnp.ndarray:
  """ReLU evaluated on the x2 band-limited upsampling, then ideally low-passed back.

  (N, H, W, C) -> (N, H, W, C). The output has no content at or above H/2 (W/2).
  """
  return on_doubled_grid(jax.nn.relu, x)


# Least-squares fit of ReLU by a + b x + c x^2 under x ~ N(0, 1) (the scale BatchNorm gives):
# b = E[x relu(x)] / E[x^2] = 1/2; the even part |x|/2 fitted by a + c x^2 gives
# a = c = 1 / (2 sqrt(2 pi)) ~ 0.1995.
RELU_POLY = (1.0 / (2.0 * math.sqrt(2.0 * math.pi)), 0.5, 1.0 / (2.0 * math.sqrt(2.0 * math.pi)))


def relu_poly(x: jnp.ndarray) -> jnp.ndarray:
  """RELU_POLY (a, b, c) evaluated pointwise: a + b x + c x^2. Same shape and dtype."""
  a, b, c = RELU_POLY
  return a + x * (b + c * x)


def alias_free_poly(x: jnp.ndarray) -> jnp.ndarray:
  """relu_poly evaluated on the x2 band-limited upsampling, then ideally low-passed back.

  (N, H, W, C) -> (N, H, W, C). Exactly equivariant to Fourier shifts of maps without Nyquist
  content (module docstring); the output has no content at or above H/2 (W/2).
  """
  return on_doubled_grid(relu_poly, x)


def band_limit(x: jnp.ndarray) -> jnp.ndarray:
  """x without its Nyquist row and column (keeps |k| < H/2, W/2): fractional Fourier shifts
  (common.fourier.fourier_shift) of the result are exact shifts of a band-limited signal.
  (N, H, W, C) -> same."""
  height, width = x.shape[1], x.shape[2]
  return ideal_resize(ideal_resize(x, (2 * height, 2 * width)), (height, width))


@DOWNSAMPLERS.register("ideal")
@dataclasses.dataclass(frozen=True)
class IdealDownsampler(Downsampler):
  """Alias-free subsampling: every op at stride 1, then ideal_downsample (blur_size unused).

  The projection shortcut is ideally downsampled first, then runs its 1x1 conv at stride 1
  (the two commute). Any stride works.
  """

  def subsample_after(self, x, op, stride, name):
    del name
    return ideal_downsample(op(x, 1), stride)

  def shortcut(self, x, project_op, stride, *, name):
    del name
    return project_op(ideal_downsample(x, stride), 1)
