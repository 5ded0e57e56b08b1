"""Comparisons of feature maps shared by the analyses: normalised errors, global sums, borders.

Maps are (..., H, W, C) float arrays; a per-image value reduces over (H, W, C).
"""
from __future__ import annotations

import math

import jax.numpy as jnp

_TINY = 1e-12


def border_mask(height: int, width: int, border_pixels: int, input_side: int) -> jnp.ndarray:
  """(H, W, 1) float mask: 0 on the `border_pixels` input pixels at each edge (scaled to this
  map's size and rounded up, at most leaving one central row/column), 1 elsewhere."""
  def keep(size):
    margin = min(math.ceil(border_pixels * size / input_side), (size - 1) // 2)
    index = jnp.arange(size)
    return (index >= margin) & (index < size - margin)
  return (keep(height)[:, None] & keep(width)[None, :]).astype(jnp.float32)[:, :, None]


def normalised_error(actual: jnp.ndarray, expected: jnp.ndarray, reference: jnp.ndarray,
                     mask: jnp.ndarray | float = 1.0) -> jnp.ndarray:
  """||mask (actual - expected)|| / ||mask reference|| per map (over the last three axes).

  Returns (...,): 0 where the maps agree; a reference map of zeros gives the error's
  numerator over 1e-12 (0 when actual == expected).
  """
  numerator = jnp.sqrt(jnp.sum(mask * (actual - expected) ** 2, axis=(-3, -2, -1)))
  denominator = jnp.sqrt(jnp.sum(mask * reference ** 2, axis=(-3, -2, -1)))
  return numerator / jnp.maximum(denominator, _TINY)


def normalised_vector_error(actual: jnp.ndarray, reference: jnp.ndarray) -> jnp.ndarray:
  """||actual - reference|| / ||reference|| over the last axis (features that should not change)."""
  numerator = jnp.sqrt(jnp.sum((actual - reference) ** 2, axis=-1))
  return numerator / jnp.maximum(jnp.sqrt(jnp.sum(reference ** 2, axis=-1)), _TINY)


def global_sum_change(actual: jnp.ndarray, reference: jnp.ndarray,
                      mask: jnp.ndarray | float = 1.0) -> jnp.ndarray:
  """Change of the per-channel global sums, relative to the reference's magnitude.

  sum_c |mean_hw m actual - mean_hw m reference| / sum_c mean_hw m |reference|, per map, with
  the (H, W, 1) mask m (border_mask; 1 = the whole map): 0 when every channel's (masked)
  global sum, equivalently its global average pool, is unchanged.
  """
  mask = jnp.broadcast_to(jnp.asarray(mask, jnp.float32), actual.shape[-3:-1] + (1,))
  weight = jnp.maximum(jnp.sum(mask), _TINY)

  def masked_mean(values):
    return jnp.sum(mask * values, axis=(-3, -2)) / weight

  change = jnp.abs(masked_mean(actual) - masked_mean(reference))
  scale = jnp.sum(masked_mean(jnp.abs(reference)), axis=-1)
  return jnp.sum(change, axis=-1) / jnp.maximum(scale, _TINY)
