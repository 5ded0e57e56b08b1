"""`fourier_shift(x, shifts, axes)`: circular shift by any real number of samples through the
FFT phase ramp (ideal, band-limited interpolation on a periodic grid); `remove_nyquist(x, axes)`:
the same signal without its Nyquist bins, on which every such shift is exact.

  shifted = real(IFFT(FFT(x)[k] * exp(-2 pi i f_k t)))      (per shifted axis; t in samples)

with f_k = jnp.fft.fftfreq(L) the signed frequency in cycles per sample (an even length's
Nyquist bin at f = -1/2). Same sign convention as jnp.roll: t = +1 moves x[n] to n + 1 (for
images: positive dy moves the content down, dx to the right). An integer t is exactly a roll
up to float rounding, t = 0 the identity, and the DC term (global sum) never changes.

The Nyquist bin (even L only) holds one real cosine; a fractional shift of it is not
representable on the grid (it would need an imaginary part). Keeping the real part keeps its
cosine part times cos(pi t) instead of e^{-i pi t}: the symmetric (Hermitian) choice, which a
half-sample shift turns to zero. So composed fractional shifts add up exactly only for signals
without Nyquist content (`remove_nyquist` removes it; so does models.alias_free.band_limit),
and the derivative in t of a shift at t = 0 has no Nyquist part (d/dt cos(pi t) = 0 there).
Values are not clipped (band-limited ringing can leave [0, 255] for images).

One implementation for its three users: the fractional_shift evaluation protocol (images
(H, W, C), axes (0, 1)), the layer analyses (feature maps (N, H, W, C) shifted by fractions
of their stride, axes (1, 2)), and the alias-free models' exactness tests and benchmark. It
sits in common/ so that models/ and evaluate/ can both import it.
"""
from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np


def fourier_shift(x: jnp.ndarray, shifts: Sequence[float], axes: Sequence[int]) -> jnp.ndarray:
  """Circularly shifts real `x` by `shifts[i]` samples (fractions allowed) along `axes[i]`.

  Args:
    x: a real array of any shape and dtype.
    shifts: one shift per axis, in samples (Python floats or traced scalars).
    axes: the axes to shift (distinct).
  Returns:
    An array of x's shape: x's dtype if it is a float type, else float32. The FFTs run in
    float32 (complex64) whatever the input dtype.
  Raises:
    ValueError if `shifts` and `axes` differ in length.
  """
  if len(shifts) != len(axes):
    raise ValueError(f"one shift per axis: got {len(shifts)} shifts for {len(axes)} axes")
  axes = tuple(axes)
  spectrum = jnp.fft.fftn(x.astype(jnp.float32), axes=axes)
  for shift, axis in zip(shifts, axes):
    length = x.shape[axis]
    frequency = jnp.asarray(np.fft.fftfreq(length), jnp.float32)  # cycles per sample
    ramp = jnp.exp(-2j * jnp.pi * frequency * jnp.asarray(shift, jnp.float32))
    shape = [1] * x.ndim
    shape[axis] = length
    spectrum = spectrum * ramp.reshape(shape)
  out_dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
  return jnp.real(jnp.fft.ifftn(spectrum, axes=axes)).astype(out_dtype)


def remove_nyquist(x: jnp.ndarray, axes: Sequence[int]) -> jnp.ndarray:
  """`x` without its Nyquist frequency along each of `axes` (an even length L's bin k = L/2;
  odd lengths have none and are left as they are): the Nyquist row and column of an image.

  Keeps every frequency |k| < L/2, so fourier_shift of the result is an exact shift of a
  band-limited signal for every real t (shifts compose; integer t is a roll).
  Returns x's shape, x's dtype if it is a float type, else float32.
  """
  axes = tuple(axes)
  spectrum = jnp.fft.fftn(x.astype(jnp.float32), axes=axes)
  for axis in axes:
    length = x.shape[axis]
    if length % 2:
      continue
    keep = np.ones(length, np.float32)
    keep[length // 2] = 0.0
    shape = [1] * x.ndim
    shape[axis] = length
    spectrum = spectrum * jnp.asarray(keep).reshape(shape)
  out_dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
  return jnp.real(jnp.fft.ifftn(spectrum, axes=axes)).astype(out_dtype)
