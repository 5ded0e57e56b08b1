"""Which test images an evaluation uses, and which of them a protocol with `num_images` uses."""
from __future__ import annotations

from typing import Optional

import numpy as np

from common.errors import ConfigError


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


_MASK = (1 << 64) - 1


def image_priority(image_indices: np.ndarray, seed: int) -> np.ndarray:
  """(N,) uint64 pseudo-random priority of each test-set index under `seed`: the SplitMix64
  output of (seed, index), a function of those two numbers alone (not of the other images,
  their order, the device count or numpy's generators)."""
  indices = np.asarray(image_indices, np.int64).astype(np.uint64)
  state = (int(seed) * 0xD1B54A32D192ED03 + 0x9E3779B97F4A7C15) & _MASK
  z = indices * np.uint64(0x9E3779B97F4A7C15) + np.uint64(state)  # wraps modulo 2**64
  z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
  z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
  return z ^ (z >> np.uint64(31))


def protocol_image_rows(image_indices: np.ndarray, num_images: Optional[int],
                        seed: int) -> np.ndarray:
  """Rows (sorted, int64 (K,)) into `image_indices` of the images a protocol runs on.

  A protocol entry's num_images = K (evaluate.config): the K evaluated images of lowest
  image_priority(index, seed), i.e. the first K of one seeded random order of the test set,
  restricted to the evaluated images. So the subset depends only on the eval seed, K and the
  evaluated images: two runs evaluated with the same seed on the same images get the same K
  images (their results pair); subsets are nested as K grows; every protocol with the same K
  uses the same images; and an image chosen from a larger evaluated set is also chosen from
  any smaller set that holds it.

  Args:
    image_indices: (N,) test-set indices of the evaluated images (distinct).
    num_images: K; None, or K >= N: every row.
    seed: config.eval.seed.
  """
  count = len(image_indices)
  if num_images is None or num_images >= count:
    return np.arange(count, dtype=np.int64)
  if num_images < 1:
    raise ConfigError(f"num_images must be >= 1, got {num_images}")
  priority = image_priority(image_indices, seed)
  order = np.lexsort((np.asarray(image_indices), priority))  # ties (never seen) by index
  return np.sort(order[:num_images]).astype(np.int64)
