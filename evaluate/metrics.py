"""Invariance and accuracy metrics on a grid of predictions, with standard errors over images.

All functions are pure NumPy on the pieces of an evaluate.grid.GridResult:
  probs (N, G, C) softmax probabilities, labels (N,), pairs (P, 2) grid-column pairs,
  pair groups (P,) and point groups (G,).

Every scalar metric is first computed per image (averaged over that image's pairs or grid
points), then averaged over images: it returns Stat = {"mean": float, "stderr": float} with
stderr = std over images (ddof=1) / sqrt(N) (nan when N < 2). Passed `groups`, it returns the
metric per group instead: {"group": [g...], "mean": [...], "stderr": [...]} (sorted by group).

Definitions (Azulay & Weiss 2019, sec. 2; Engstrom et al. 2019; Zhang 2019):
  p_top1_change: fraction of pairs whose top-1 class differs between the two grid points.
  mac: mean absolute change |p_g1(c) - p_g2(c)|, c = top-1 class at the first point g1.
  accuracy: fraction of (image, grid point) with top-1 = label.
  worst_case_accuracy: fraction of images right at every grid point (of the group).
  consistency: fraction of random pairs of distinct grid points (of the same group) with the
    same top-1 class (seeded draw, `samples_per_image` pairs per image).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

Stat = dict[str, float]


def stat(per_image: np.ndarray) -> Stat:
  """{"mean", "stderr"} of an (N,) array of per-image values."""
  per_image = np.asarray(per_image, np.float64)
  count = per_image.shape[0]
  stderr = per_image.std(ddof=1) / np.sqrt(count) if count > 1 else float("nan")
  return {"mean": float(per_image.mean()), "stderr": float(stderr)}


def _per_group(per_image_fn: Callable[[np.ndarray], np.ndarray], groups: np.ndarray
               ) -> dict[str, list]:
  """Applies per_image_fn(selected columns (K,) indices) -> (N,) to every group."""
  groups = np.asarray(groups)
  values = np.unique(groups)
  stats = [stat(per_image_fn(np.flatnonzero(groups == value))) for value in values]
  return {"group": [int(v) for v in values],
          "mean": [s["mean"] for s in stats],
          "stderr": [s["stderr"] for s in stats]}


def _grouped(per_image_fn, groups):
  """Stat over all columns when groups is None, else the per-group dict."""
  if groups is None:
    return stat(per_image_fn(slice(None)))
  return _per_group(per_image_fn, groups)


def top1(probs: np.ndarray) -> np.ndarray:
  """(N, G) int top-1 class of (N, G, C) probabilities (or logits)."""
  return np.argmax(probs, axis=-1)


def top1_changed(probs: np.ndarray, pairs: np.ndarray) -> np.ndarray:
  """(N, P) bool: top-1 differs between the two grid points of each pair."""
  top = top1(probs)
  return top[:, pairs[:, 0]] != top[:, pairs[:, 1]]


def absolute_change(probs: np.ndarray, pairs: np.ndarray) -> np.ndarray:
  """(N, P) |p_g1(c) - p_g2(c)| with c the top-1 class at g1."""
  first, second = probs[:, pairs[:, 0]], probs[:, pairs[:, 1]]
  top = np.argmax(first, axis=-1)[..., None]
  return np.abs(np.take_along_axis(first, top, -1) - np.take_along_axis(second, top, -1))[..., 0]


def p_top1_change(probs: np.ndarray, pairs: np.ndarray, groups: np.ndarray | None = None):
  """P(top-1 change) between the grid points of each pair; groups: (P,) pair groups."""
  changed = top1_changed(probs, np.asarray(pairs)).astype(np.float64)
  return _grouped(lambda columns: changed[:, columns].mean(1), groups)


def mac(probs: np.ndarray, pairs: np.ndarray, groups: np.ndarray | None = None):
  """Mean absolute change of the first point's top-1 probability; groups: (P,) pair groups."""
  change = absolute_change(np.asarray(probs, np.float64), np.asarray(pairs))
  return _grouped(lambda columns: change[:, columns].mean(1), groups)


def correct(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """(N, G) bool: top-1 equals the label."""
  return top1(probs) == np.asarray(labels)[:, None]


def accuracy_per_grid_point(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """(G,) float accuracy at each grid column."""
  return correct(probs, labels).mean(0)


def accuracy(probs: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None):
  """Accuracy over images and grid points; groups: (G,) point groups."""
  hits = correct(probs, labels).astype(np.float64)
  return _grouped(lambda columns: hits[:, columns].mean(1), groups)


def worst_case_accuracy(probs: np.ndarray, labels: np.ndarray,
                        groups: np.ndarray | None = None):
  """Fraction of images classified right at every grid point; groups: (G,) point groups."""
  hits = correct(probs, labels)
  return _grouped(lambda columns: hits[:, columns].all(1).astype(np.float64), groups)


def consistency(probs: np.ndarray, groups: np.ndarray | None = None, *,
                samples_per_image: int = 16, seed: int = 0):
  """Zhang's consistency: same top-1 at two distinct random grid points.

  Per image, `samples_per_image` pairs are drawn with numpy.random.default_rng(seed): the
  first point uniformly among the columns (of the group), the second uniformly among the
  other columns of the same group. Groups with a single column are skipped.
  """
  if samples_per_image < 1:
    raise ValueError(f"samples_per_image must be >= 1, got {samples_per_image}")
  top = top1(probs)
  count = top.shape[0]
  rng = np.random.default_rng(seed)

  def per_image(columns):
    columns = np.arange(top.shape[1])[columns]
    if len(columns) < 2:
      raise ValueError("consistency needs at least 2 grid points per group")
    first = rng.integers(0, len(columns), (count, samples_per_image))
    second = (first + rng.integers(1, len(columns), first.shape)) % len(columns)
    rows = np.arange(count)[:, None]
    same = top[rows, columns[first]] == top[rows, columns[second]]
    return same.mean(1)

  return _grouped(per_image, groups)


def summarize(result: Any, *, seed: int = 0, consistency_samples: int = 16) -> dict[str, Any]:
  """Every metric of a GridResult, overall and per group, as a JSON-able dict.

  Keys: num_images, num_points, num_pairs, p_top1_change, mac, accuracy, worst_case_accuracy,
  consistency (Stats), accuracy_per_grid_point (list, only for full grids), and 'per_group'
  with the same metrics per group when there is more than one group.
  """
  probs, labels, pairs = result.probs, result.labels, result.pairs
  summary = {
      "num_images": int(probs.shape[0]),
      "num_points": int(probs.shape[1]),
      "num_pairs": int(len(pairs)),
      "p_top1_change": p_top1_change(probs, pairs),
      "mac": mac(probs, pairs),
      "accuracy": accuracy(probs, labels),
      "worst_case_accuracy": worst_case_accuracy(probs, labels),
      "consistency": consistency(probs, samples_per_image=consistency_samples, seed=seed),
  }
  if not result.sampled:
    summary["accuracy_per_grid_point"] = accuracy_per_grid_point(probs, labels).tolist()
  if len(np.unique(result.point_group)) > 1:
    summary["per_group"] = {
        "p_top1_change": p_top1_change(probs, pairs, result.pair_group),
        "mac": mac(probs, pairs, result.pair_group),
        "accuracy": accuracy(probs, labels, result.point_group),
        "worst_case_accuracy": worst_case_accuracy(probs, labels, result.point_group),
        "consistency": consistency(probs, result.point_group,
                                   samples_per_image=consistency_samples, seed=seed),
    }
  return summary
