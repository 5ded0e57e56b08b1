"""Ideal (Fourier, band-limited) interpolation: shifting a sampled map by a fraction of a sample.

A map sampled with cumulative stride s is "shiftable" (Azulay & Weiss 2019, sec. 3) when the
map of the input shifted by d pixels equals the map shifted by d / s samples through ideal
interpolation. On a periodic grid, ideal interpolation is the DFT phase ramp:

  shifted[n] = real(IDFT(DFT(x)[k] * exp(-2 pi i k t / L)))      (t = shift in samples)

with k the signed frequency index (numpy.fft.fftfreq order). For even L the Nyquist bin
(k = -L/2) is one real cosine; a fractional shift of it is not representable on the grid
(it would need an imaginary part), and taking the real part keeps its cosine part times
cos(pi t), the symmetric (Hermitian) choice. For an integer t this is exactly a circular
roll (jnp.roll) up to float rounding. The DC term (global sum) is unchanged by any t.
"""
from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np


def fourier_shift(x: jnp.ndarray, shifts: Sequence[float], axes: Sequence[int]) -> jnp.ndarray:
  """Circularly shifts real `x` by `shifts[i]` samples (fractions allowed) along `axes[i]`.

  Same sign convention as jnp.roll: shift +1 moves x[n] to position n + 1.
  Args:
    x: a real array; any shape.
    shifts: one shift per axis, in samples (Python floats or traced scalars).
    axes: the axes to shift.
  Returns:
    A float array of x's shape (float32 for float32 input).
  """
  if len(shifts) != len(axes):
    raise ValueError(f"one shift per axis: got {len(shifts)} shifts for {len(axes)} axes")
  spectrum = jnp.fft.fftn(x, axes=tuple(axes))
  for shift, axis in zip(shifts, axes):
    length = x.shape[axis]
    frequency = jnp.asarray(np.fft.fftfreq(length), jnp.float32)  # cycles per sample
    phase = jnp.exp(-2j * jnp.pi * frequency * jnp.asarray(shift, jnp.float32))
    shape = [1] * x.ndim
    shape[axis] = length
    spectrum = spectrum * phase.reshape(shape)
  return jnp.real(jnp.fft.ifftn(spectrum, axes=tuple(axes))).astype(
      x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32)
