"""Alias-free building blocks, all circular (Fourier): ideal resampling, the activations on the
x2 grid, and the downsampling strategies 'ideal' and 'ideal_pool'.

A feature map of size n along an axis is read as the samples of a band-limited periodic
signal; its discrete Fourier coefficients are indexed by the frequency k in (-n/2, n/2].

  ideal_resize(x, (m_h, m_w))  resamples that signal onto an m_h x m_w grid by keeping only the
      frequencies |k| < m/2 (strictly below the new grid's Nyquist frequency) when the grid
      shrinks, or by zero-padding the spectrum when it grows (an even-size map's Nyquist bin
      is split equally between +n/2 and -n/2 so the result stays real).
  ideal_downsample(x, stride)  the ideal low-pass + subsampling: ideal_resize to
      ceil(H / stride) x ceil(W / stride), the output size of every other strategy. Odd sizes
      work: the new grid simply has a spacing of H / m input pixels.
  upsample_below_nyquist(x)  x without its Nyquist row and column, upsampled x2.
  on_doubled_grid(f, x)  f evaluated pointwise on the x2 upsampling, ideally low-passed back.
  alias_free_relu(x)  the upsampled ReLU: upsample x2 (spectrum zero-padding), ReLU, ideal
      low-pass back to the original size. This is the StyleGAN3 recipe (Karras et al. 2021);
      the ReLU's spectrum is unbounded, so it only reduces aliasing. It is NOT the method of
      Michaeli, Michaeli & Soudry (CVPR 2023), who argue exactly that and use a polynomial.
  alias_free_poly(x)  the same with one fixed degree-2 polynomial RELU_POLY instead of the
      ReLU: no aliasing of maps without Nyquist content, see below. Michaeli et al.'s
      activation (per-channel trainable coefficients and scales, the input's Nyquist content
      dropped) is models/afc.py.

Exactness (the reason these exist): a circular integer shift by d input pixels becomes a
shift by d * m / n pixels of the resampled map in the Fourier sense (the phase ramp
exp(-2 pi i k d m / n)), exactly, because no kept frequency aliases. Circular convolutions,
per-channel affine maps and global average pooling commute with such Fourier shifts exactly;
a ReLU on the x2-upsampled grid commutes with them exactly only where the Fourier shift is an
integer number of fine-grid pixels. So one stage of ideal downsampling followed by
alias_free_relu keeps integer shifts exact, and deeper stages are exact only up to the
aliasing the ReLU itself creates (measured in tests/test_polyphase.py and in docs).
A degree-2 polynomial creates no such aliasing: if the map holds only frequencies |k| < n/2,
its square holds only |k| < n, which the 2n grid of the x2 upsampling represents without
folding (its Nyquist bin is n). So alias_free_poly commutes exactly with every Fourier shift of
a map with no Nyquist content (every map after the first ideal downsampling), and a network of
circular convolutions, ideal downsampling, affine norms, alias_free_poly and global average
pooling is invariant up to float rounding to every integer circular shift of its input, and
to every sub-pixel Fourier shift of a band-limited input only: a raw image's Nyquist content
has no sub-pixel shift (common.fourier), and the stem's activation sees it. Dropping it
before the first activation (on_doubled_grid(..., drop_nyquist=True), as models/afc.py does)
makes sub-pixel shifts of raw images exact too.

The downsampling strategy 'ideal' (IdealDownsampler, below) runs every strided op at stride 1
and then ideal_downsample; 'ideal_pool' (IdealPoolDownsampler) also replaces every pooling
layer by ideal_downsample alone (a max-pool is not alias-free). All functions take and
return NHWC arrays. Every resampling is one linear map per axis (DFT, crop or zero-pad the
spectrum, inverse DFT), precomputed in float64 as a real matrix (resampling_matrix) and
applied as two float32 matrix products at full precision, whatever the input dtype; the
result is cast back to the input dtype. (At CIFAR map sizes, 4 to 64 samples, these small
matrix products cost less CPU time and compile faster than the equivalent FFTs.)
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from models.downsample import DOWNSAMPLERS, Downsampler


def _resize_spectrum(spectrum: np.ndarray, new_size: int) -> np.ndarray:
  """Moves DFT coefficients (axis 0) from size n to `new_size` (crop or zero-pad).

  Shrinking keeps |k| <= ceil(new_size / 2) - 1 (the new Nyquist bin and above are cut);
  growing keeps every |k| < n / 2 and splits an even n's Nyquist bin equally between the
  bins +n/2 and -n/2 of the larger grid.
  """
  size = spectrum.shape[0]
  if new_size == size:
    return spectrum
  zeros = lambda count: np.zeros((count,) + spectrum.shape[1:], spectrum.dtype)
  if new_size < size:
    kmax = min(math.ceil(new_size / 2), math.ceil(size / 2)) - 1
    return np.concatenate([spectrum[:kmax + 1], zeros(new_size - 2 * kmax - 1),
                           spectrum[size - kmax:] if kmax > 0 else zeros(0)])
  if size % 2:  # odd: no Nyquist bin
    kmax = (size - 1) // 2
    return np.concatenate([spectrum[:kmax + 1], zeros(new_size - size),
                           spectrum[size - kmax:] if kmax > 0 else zeros(0)])
  half = size // 2
  nyquist = spectrum[half:half + 1] / 2
  return np.concatenate([spectrum[:half], nyquist, zeros(new_size - size - 1), nyquist,
                         spectrum[half + 1:]])


@functools.lru_cache(maxsize=None)
def resampling_matrix(size: int, new_size: int, drop_nyquist: bool = False) -> np.ndarray:
  """The ideal circular resampling of one axis from `size` to `new_size` samples, as a real
  (new_size, size) float64 matrix: inverse DFT . spectrum crop or zero-pad . DFT, scaled so
  that constants are kept (see the module docstring for the frequencies kept).

  drop_nyquist: first cut an even size's Nyquist bin (keep only |k| < size / 2).
  """
  spectrum = np.fft.fft(np.eye(size), axis=0)  # column j: the DFT of the unit sample e_j
  if drop_nyquist and size % 2 == 0:
    spectrum = _resize_spectrum(spectrum, size - 1)
  spectrum = _resize_spectrum(spectrum, new_size)
  return np.real(np.fft.ifft(spectrum, axis=0)) * (new_size / size)


def _resample(x: jnp.ndarray, new_hw: Sequence[int], drop_nyquist: bool) -> jnp.ndarray:
  """(N, H, W, C) -> (N, m_h, m_w, C) by resampling_matrix along H, then W (float32,
  full-precision matrix products: the GPU/TPU default would round to TF32/bfloat16)."""
  height, width = x.shape[1], x.shape[2]
  rows = jnp.asarray(resampling_matrix(height, int(new_hw[0]), drop_nyquist), jnp.float32)
  cols = jnp.asarray(resampling_matrix(width, int(new_hw[1]), drop_nyquist), jnp.float32)
  highest = jax.lax.Precision.HIGHEST
  y = jnp.einsum("ah,nhwc->nawc", rows, x.astype(jnp.float32), precision=highest)
  y = jnp.einsum("bw,nawc->nabc", cols, y, precision=highest)
  return y.astype(x.dtype)


def ideal_resize(x: jnp.ndarray, new_hw: Sequence[int]) -> jnp.ndarray:
  """Band-limited circular resampling of x: (N, H, W, C) -> (N, m_h, m_w, C).

  Values are preserved (a constant map stays the same constant); see the module docstring
  for which frequencies are kept.
  """
  if (int(new_hw[0]), int(new_hw[1])) == (x.shape[1], x.shape[2]):
    return x
  return _resample(x, new_hw, drop_nyquist=False)


def ideal_downsample(x: jnp.ndarray, stride: int) -> jnp.ndarray:
  """Ideal low-pass at the new Nyquist frequency, then subsampling by `stride`.

  (N, H, W, C) -> (N, ceil(H / stride), ceil(W / stride), C); stride 1 is the identity.
  """
  if stride == 1:
    return x
  return ideal_resize(x, (-(-x.shape[1] // stride), -(-x.shape[2] // stride)))


def upsample_below_nyquist(x: jnp.ndarray, factor: int = 2) -> jnp.ndarray:
  """x without its Nyquist row and column, ideally upsampled by `factor`.

  (N, H, W, C) -> (N, factor * H, factor * W, C). The same as ideal_resize(band_limit(x),
  (factor * H, factor * W)) in one resampling: only the frequencies |k| < H/2 (W/2) are
  kept, the ones a Fourier shift by any fraction of a pixel moves exactly (common.fourier).
  Odd sizes have no Nyquist bin: then this is ideal_resize.
  """
  return _resample(x, (factor * x.shape[1], factor * x.shape[2]), drop_nyquist=True)


def on_doubled_grid(pointwise, x: jnp.ndarray, *, drop_nyquist: bool = False) -> jnp.ndarray:
  """`pointwise` evaluated on the x2 band-limited upsampling of x, ideally low-passed back.

  (N, H, W, C) -> (N, H, W, C); the output has no content at or above H/2 (W/2).
  drop_nyquist: upsample only the part of x below its Nyquist frequency
  (upsample_below_nyquist), so that the output depends on nothing that a sub-pixel shift
  cannot move exactly; False splits an even size's Nyquist bin between +-H/2 (ideal_resize).
  """
  height, width = x.shape[1], x.shape[2]
  upsampled = (upsample_below_nyquist(x) if drop_nyquist
               else ideal_resize(x, (2 * height, 2 * width)))
  return ideal_resize(pointwise(upsampled), (height, width))


def alias_free_relu(x: jnp.ndarray) -> jnp.ndarray:
  """The upsampled ReLU (StyleGAN3-style): ReLU evaluated on the x2 band-limited upsampling,
  then ideally low-passed back. Reduces aliasing, does not remove it (module docstring).

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
  (N, H, W, C) -> same; odd sizes have no Nyquist content (returned unchanged, up to
  rounding)."""
  return _resample(x, x.shape[1:3], drop_nyquist=True)


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


@DOWNSAMPLERS.register("ideal_pool")
@dataclasses.dataclass(frozen=True)
class IdealPoolDownsampler(IdealDownsampler):
  """'ideal', with every pooling layer replaced by the ideal low-pass itself.

  A max-pool is not alias-free at any stride (the max of a band-limited map has unbounded
  bandwidth, so its samples alias under sub-pixel shifts), so a pooling layer here drops its
  window and only ideal_downsample's its input: the pooling of an alias-free network
  (AlexNet with nonlinearity='afc_poly'). Strided convs and shortcuts are as in 'ideal', so
  for the ResNets (no pooling layers) the two are the same network.
  """

  def pool(self, x, pool_op, stride, *, name, train=False, temperature=1.0):
    del pool_op, name, train, temperature
    return ideal_downsample(x, stride)
