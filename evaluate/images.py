"""Which test images an evaluation uses."""
from __future__ import annotations

import numpy as np


def select_test_images(num_available: int, num_images: int, selection: str,
                       seed: int) -> np.ndarray:
  """Indices (sorted, int64 (N,)) of the evaluated test images.

  Args:
    num_available: test-set size.
    num_images: how many; 0 or more than available = all of them.
    selection: 'first' (the first N) or 'random' (N without replacement, drawn with `seed`).
    seed: seeds the 'random' draw.
  """
  if num_images <= 0 or num_images >= num_available:
    return np.arange(num_available)
  if selection == "first":
    return np.arange(num_images)
  rng = np.random.default_rng(seed)
  return np.sort(rng.choice(num_available, size=num_images, replace=False))
