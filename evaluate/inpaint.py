"""Inpainting of an image's unknown pixels by repeated normalised convolution.

The background fill of the paper's "inpainting" protocol (Azulay & Weiss 2019, sec. 2): every
unknown (background) pixel becomes a weighted average of nearby known pixels. One iteration
computes blur(image * known) / blur(known) with a separable binomial kernel and writes it into
the unknown pixels that have at least one known pixel under the kernel; those pixels then count
as known. Known pixels are never changed. After `iterations` iterations every pixel within
Chebyshev distance iterations * (kernel_size // 2) of a known pixel has been filled.
"""
from __future__ import annotations

from math import comb

import jax
import jax.numpy as jnp
import numpy as np


def binomial_kernel(kernel_size: int) -> np.ndarray:
  """(kernel_size,) float32 binomial weights summing to 1 (e.g. 5 -> [1, 4, 6, 4, 1] / 16)."""
  weights = np.array([comb(kernel_size - 1, k) for k in range(kernel_size)], np.float32)
  return weights / weights.sum()


def _blur(values: jnp.ndarray, kernel: np.ndarray) -> jnp.ndarray:
  """Separable 'same' convolution of (H, W, ...) `values` with zero padding."""
  radius = len(kernel) // 2
  height, width = values.shape[:2]
  rest = [(0, 0)] * (values.ndim - 2)
  padded = jnp.pad(values, [(radius, radius), (0, 0), *rest])
  rows = sum(weight * padded[i:i + height] for i, weight in enumerate(kernel))
  padded = jnp.pad(rows, [(0, 0), (radius, radius), *rest])
  return sum(weight * padded[:, i:i + width] for i, weight in enumerate(kernel))


def reach(iterations: int, kernel_size: int) -> int:
  """Largest Chebyshev distance (pixels) from a known pixel that inpainting fills."""
  return iterations * (kernel_size // 2)


def inpaint(image: jnp.ndarray, known: jnp.ndarray, *, iterations: int = 16,
            kernel_size: int = 5) -> jnp.ndarray:
  """Fills the unknown pixels of `image` from the known ones (jittable, vmappable).

  Args:
    image: (H, W, C) float pixel values; values at unknown pixels are ignored.
    known: (H, W) bool, True where the pixel is part of the image (kept bitwise unchanged).
    iterations: number of normalised-convolution sweeps (static int >= 1).
    kernel_size: odd side of the binomial blur kernel (static int >= 3).

  Returns:
    (H, W, C) array, same dtype: known pixels unchanged, unknown pixels within
    `reach(iterations, kernel_size)` of a known pixel filled with convex combinations of
    known pixel values (so inside their range); pixels out of reach (or all pixels if none is
    known) are 0.
  """
  kernel = binomial_kernel(kernel_size)
  values0 = jnp.where(known[:, :, None], image, 0).astype(jnp.float32)
  weights0 = known.astype(jnp.float32)

  def sweep(_, carry):
    values, weights = carry
    numerator = _blur(values * weights[:, :, None], kernel)
    denominator = _blur(weights, kernel)
    reached = denominator > 0
    estimate = numerator / jnp.where(reached, denominator, 1.0)[:, :, None]
    fill_now = reached & (weights == 0)
    values = jnp.where(fill_now[:, :, None], estimate, values)
    weights = jnp.where(fill_now, 1.0, weights)
    return values, weights

  values, _ = jax.lax.fori_loop(0, iterations, sweep, (values0, weights0))
  return jnp.where(known[:, :, None], image, values.astype(image.dtype))
