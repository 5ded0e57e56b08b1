"""Invariance and accuracy metrics on a grid of predictions, with standard errors over images.

All functions are pure NumPy on the pieces of an evaluate.grid.GridResult:
  probs (N, G, C) softmax probabilities, labels (N,), pairs (P, 2) grid-column pairs,
  pair groups (P,) and point groups (G,) (the embedding size for embed_*, else all 0).

Every scalar metric is first computed per image (averaged over that image's pairs or grid
points), then averaged over images: it returns Stat = {"mean": float, "stderr": float} with
stderr = std over images (ddof=1) / sqrt(N) (nan when N < 2).
  groups=None: one Stat over all columns (one group).
  groups given: the metric per group, {"group": [g...], "mean": [...], "stderr": [...]}
    (sorted by group).
  groups given and pool=True: the POOLED Stat, the one summary number of a protocol with
    several groups (sizes): per image, the equal-weight mean over groups of its per-group
    values; then mean and standard error over images of those per-image means. Its mean is
    exactly the mean of the per-group means, whatever the number of pairs or grid points of
    each group (full-grid sizes 16/20/24/28 have 256/144/64/16 diagonal pairs: a mean over
    all pairs would weight them 0.53/0.30/0.13/0.03). With one group it equals groups=None.

Definitions (Azulay & Weiss 2019, sec. 2; Engstrom et al. 2019; Zhang 2019):
  p_top1_change: fraction of pairs whose top-1 class differs between the two grid points.
  mac: mean absolute change |p_g1(c) - p_g2(c)| of the probability of c = the top-1 class at
    the pair's first point g1 (the first frame's top class), not of every class.
  accuracy: fraction of (image, grid point) with top-1 = label.
  worst_case_accuracy: fraction of images right at every grid point (of the group).
  consistency: fraction of random pairs of distinct grid points OF THE SAME GROUP (for
    embed_shift: the same size) with the same top-1 class (seeded draw, `samples_per_image`
    pairs per image and group). Never across groups.
  max_logit_change: the largest change of any logit between any two grid points of the same
    group of an image: max over images, groups and classes of (max - min over the group's
    grid points). 0 means exactly invariant on the grid; float rounding gives ~1e-6.

Sampled grids (protocols with sample_pairs = K): the pair metrics use the sampled pairs
(uniform over the full grid's pairs: unbiased estimates of the full-grid values); the point
metrics use the separately drawn uniform points (evaluate.protocols.sample_grid). Worst-case
accuracy over sampled points is an UPPER bound of the full-grid worst case, and the max logit
change over sampled points a LOWER bound of the full-grid one.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

Stat = dict[str, float]

# How the summary number of a protocol with several groups is formed (named in eval.json).
POOLING = ("equal-weight mean over sizes: each image's mean over sizes of its per-size value, "
           "then mean ± standard error over images")
POOLING_ONE_GROUP = "one group: mean over all pairs / grid points, ± standard error over images"
# Metrics computed on pairs (the rest on grid points).
PAIR_METRICS = ("p_top1_change", "mac")
POINT_METRICS = ("accuracy", "worst_case_accuracy", "consistency")


def stat(per_image: np.ndarray) -> Stat:
  """{"mean", "stderr"} of an (N,) array of per-image values."""
  per_image = np.asarray(per_image, np.float64)
  count = per_image.shape[0]
  stderr = per_image.std(ddof=1) / np.sqrt(count) if count > 1 else float("nan")
  return {"mean": float(per_image.mean()), "stderr": float(stderr)}


def _per_image_by_group(per_image_fn: Callable[[np.ndarray], np.ndarray], groups: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
  """(sorted group values (K,), per-image values (N, K)): per_image_fn(selected column
  indices) -> (N,) applied to the columns of every group, in sorted group order."""
  groups = np.asarray(groups)
  values = np.unique(groups)
  per_image = np.stack([per_image_fn(np.flatnonzero(groups == value)) for value in values], 1)
  return values, per_image


def _grouped(per_image_fn, groups, pool: bool = False, num_columns: int | None = None):
  """Stat over all columns (groups None), the pooled Stat (pool), or the per-group dict."""
  if groups is None:
    return stat(per_image_fn(np.arange(num_columns)))
  values, per_image = _per_image_by_group(per_image_fn, groups)
  if pool:
    return stat(per_image.mean(1))
  stats = [stat(column) for column in per_image.T]
  return {"group": [int(v) for v in values],
          "mean": [s["mean"] for s in stats],
          "stderr": [s["stderr"] for s in stats]}


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


def p_top1_change(probs: np.ndarray, pairs: np.ndarray, groups: np.ndarray | None = None, *,
                  pool: bool = False):
  """P(top-1 change) between the grid points of each pair; groups: (P,) pair groups."""
  pairs = np.asarray(pairs)
  changed = top1_changed(probs, pairs).astype(np.float64)
  return _grouped(lambda columns: changed[:, columns].mean(1), groups, pool, len(pairs))


def mac(probs: np.ndarray, pairs: np.ndarray, groups: np.ndarray | None = None, *,
        pool: bool = False):
  """Mean absolute change of the first point's top-1 probability; groups: (P,) pair groups."""
  pairs = np.asarray(pairs)
  change = absolute_change(np.asarray(probs, np.float64), pairs)
  return _grouped(lambda columns: change[:, columns].mean(1), groups, pool, len(pairs))


def correct(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """(N, G) bool: top-1 equals the label."""
  return top1(probs) == np.asarray(labels)[:, None]


def accuracy_per_grid_point(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """(G,) float accuracy at each grid column."""
  return correct(probs, labels).mean(0)


def accuracy(probs: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None, *,
             pool: bool = False):
  """Accuracy over images and grid points; groups: (G,) point groups."""
  hits = correct(probs, labels).astype(np.float64)
  return _grouped(lambda columns: hits[:, columns].mean(1), groups, pool, hits.shape[1])


def worst_case_accuracy(probs: np.ndarray, labels: np.ndarray,
                        groups: np.ndarray | None = None, *, pool: bool = False):
  """Fraction of images classified right at every grid point (of the group); groups: (G,)
  point groups. Pooled: the equal-weight mean over groups of the per-group values."""
  hits = correct(probs, labels)
  return _grouped(lambda columns: hits[:, columns].all(1).astype(np.float64), groups, pool,
                  hits.shape[1])


def stable_prediction(probs: np.ndarray, groups: np.ndarray | None = None, *,
                      pool: bool = False):
  """Fraction of images whose top-1 class is the same at every grid point (of the group);
  groups: (G,) point groups. Pooled: the equal-weight mean over groups of the per-group
  values. The adversarial counterpart of consistency (evaluate/adversarial.py)."""
  top = top1(probs)
  return _grouped(lambda columns: np.all(top[:, columns] == top[:, columns][:, :1], axis=1
                                         ).astype(np.float64), groups, pool, top.shape[1])


def consistency(probs: np.ndarray, groups: np.ndarray | None = None, *, pool: bool = False,
                samples_per_image: int = 16, seed: int = 0):
  """Zhang's consistency: same top-1 at two distinct random grid points of the same group.

  Per image and group, `samples_per_image` pairs are drawn with
  numpy.random.default_rng(seed) (groups in sorted order, so the pooled value is exactly the
  mean of the per-group values): the first point uniformly among the group's columns, the
  second uniformly among the group's other columns. Pairs never cross groups.

  Raises:
    ValueError: samples_per_image < 1, or a group with fewer than 2 grid points.
  """
  if samples_per_image < 1:
    raise ValueError(f"samples_per_image must be >= 1, got {samples_per_image}")
  top = top1(probs)
  count = top.shape[0]
  rng = np.random.default_rng(seed)

  def per_image(columns):
    if len(columns) < 2:
      raise ValueError("consistency needs at least 2 grid points per group")
    first = rng.integers(0, len(columns), (count, samples_per_image))
    second = (first + rng.integers(1, len(columns), first.shape)) % len(columns)
    rows = np.arange(count)[:, None]
    same = top[rows, columns[first]] == top[rows, columns[second]]
    return same.mean(1)

  return _grouped(per_image, groups, pool, top.shape[1])


def max_logit_change(logit_spread: np.ndarray | None, groups: np.ndarray | None = None):
  """The largest change of any logit over the grid, from GridResult.logit_spread (None if
  that is None).

  Args:
    logit_spread: (N, K) per image and point group, max over classes of (max - min over the
      group's grid points) of the logit.
    groups: (K,) the group values of its columns; None = one float for all.
  Returns:
    float (max over images and groups), or {"group": [g...], "max": [...]} (max over images).
  """
  if logit_spread is None:
    return None
  logit_spread = np.asarray(logit_spread, np.float64)
  if groups is None:
    return float(logit_spread.max())
  return {"group": [int(g) for g in np.asarray(groups)],
          "max": [float(v) for v in logit_spread.max(0)]}


def summarize(result: Any, *, seed: int = 0, consistency_samples: int = 16) -> dict[str, Any]:
  """Every metric of a GridResult, pooled over groups (module docstring) and per group.

  Not on the evaluation's path (eval.json's summaries are formed from per-image values:
  evaluate.grid_summary, evaluate.report): only tests/test_grid_metrics.py calls it, as a
  summary computed straight from the metric functions above.

  Keys: num_images, num_points, num_pairs, pooling, p_top1_change, mac (pooled over pair
  groups, on the pairs), accuracy, worst_case_accuracy, consistency (pooled over point
  groups, on result.point_columns), max_logit_change (float), accuracy_per_grid_point
  (list, only for full grids), and 'per_group' with the same metrics per group when there
  is more than one group.
  """
  probs, labels, pairs = result.probs, result.labels, np.asarray(result.pairs)
  pair_group = np.asarray(result.pair_group)
  columns = np.asarray(result.point_columns)
  point_probs, point_group = probs[:, columns], np.asarray(result.point_group)[columns]
  consistency_options = dict(samples_per_image=consistency_samples, seed=seed)
  several = len(np.unique(result.point_group)) > 1
  summary = {
      "num_images": int(probs.shape[0]),
      "num_points": int(probs.shape[1]),
      "num_pairs": int(len(pairs)),
      "pooling": POOLING if several else POOLING_ONE_GROUP,
      "p_top1_change": p_top1_change(probs, pairs, pair_group, pool=True),
      "mac": mac(probs, pairs, pair_group, pool=True),
      "accuracy": accuracy(point_probs, labels, point_group, pool=True),
      "worst_case_accuracy": worst_case_accuracy(point_probs, labels, point_group, pool=True),
      "consistency": consistency(point_probs, point_group, pool=True, **consistency_options),
      "max_logit_change": max_logit_change(result.logit_spread),
  }
  if not result.sampled:
    summary["accuracy_per_grid_point"] = accuracy_per_grid_point(probs, labels).tolist()
  if several:
    summary["per_group"] = {
        "p_top1_change": p_top1_change(probs, pairs, pair_group),
        "mac": mac(probs, pairs, pair_group),
        "accuracy": accuracy(point_probs, labels, point_group),
        "worst_case_accuracy": worst_case_accuracy(point_probs, labels, point_group),
        "consistency": consistency(point_probs, point_group, **consistency_options),
        "max_logit_change": max_logit_change(result.logit_spread, result.logit_groups),
    }
  return summary
