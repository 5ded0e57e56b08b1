"""What an evaluation keeps of a protocol's grid: per-image values and a few per-point sums,
built chunk by chunk, never the (images x grid points x classes) probabilities.

The grid engine (evaluate.grid.evaluate_grid with `on_rows`) hands over the probabilities
of each chunk of images at every grid point, (n, G, C); a GridSummarizer reduces them at
once and keeps, for all N images:
  per_image       every metric per image and group (evaluate.stats.per_image.reduce_rows: the
                  per-image values every summary of eval.json is formed from), plus
                  max_logit_change from the engine's logit spread when it finishes;
  point_hits      (G,) how many images are classified right at each grid column;
  pair_changes    (P,) how many images change their top-1 class across each pair;
  path_correct    (N, L) the correct class's probability along one path of L columns (the
                  "jagged" curves, evaluate.jagged), when a path is given.
So the host holds one chunk of probabilities at a time plus O(N * (K + L) + G + P) numbers:
a full evaluation of 1,000 images x 4,096 grid points x 10 classes (164 MB of float32
probabilities) keeps well under 1 MB.

`summarize(result)` builds the same summary from a GridResult that holds all its
probabilities (small grids, tests): both paths run the same reduction, and the result does
not depend on how the images were chunked.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from evaluate import metrics
from evaluate.stats import per_image


@dataclasses.dataclass(frozen=True)
class GridSummary:
  """The module docstring's summary of one protocol over N images.

  Attributes:
    per_image: evaluate.stats.per_image.PerImage (metric -> (N, K) values, groups (K,)).
    point_accuracy: (G,) float64 fraction of images classified right at each grid column.
    pair_change: (P,) float64 fraction of images whose top-1 class differs across each pair.
    path: (L,) int grid columns of the jagged path, or None.
    path_correct: (N, L) float32 the correct class's probability along the path, or None.
  """
  per_image: per_image.PerImage
  point_accuracy: np.ndarray
  pair_change: np.ndarray
  path: Optional[np.ndarray] = None
  path_correct: Optional[np.ndarray] = None


class GridSummarizer:
  """Reduces a protocol's grid chunk by chunk of images (module docstring).

  Args:
    result_like: anything with pairs (P, 2), pair_group, point_group (G,), point_columns
      (the grid's description: an evaluate.grid.GridResult, or grid.planned_description).
    labels: (N,) true classes of the evaluated images.
    seed, consistency_samples: the consistency metric's draws (per_image.consistency_draws).
    path: (L,) grid columns whose correct-class probability is kept per image, or None.
  """

  def __init__(self, result_like: Any, labels: np.ndarray, *, seed: int,
               consistency_samples: int = 16, path: Optional[np.ndarray] = None):
    self.layout = per_image.layout_of(result_like)
    self.labels = np.asarray(labels)
    count = self.labels.shape[0]
    self.draws = per_image.consistency_draws(self.layout, count, consistency_samples, seed)
    self.values = {name: np.full((count, len(self.layout.groups)), np.nan)
                   for name in per_image.MEAN_METRICS}
    self.point_hits = np.zeros(np.shape(result_like.point_group)[0], np.int64)
    self.pair_changes = np.zeros(self.layout.pairs.shape[0], np.int64)
    self.path = None if path is None else np.asarray(path)
    self.path_correct = (None if path is None
                         else np.full((count, len(self.path)), np.nan, np.float32))
    self.filled = np.zeros(count, bool)

  def add(self, rows: slice, probs: np.ndarray) -> None:
    """probs: (n, G, C) probabilities of images `rows` (n of them) at every grid column."""
    probs = np.asarray(probs)
    labels = self.labels[rows]
    for name, values in per_image.reduce_rows(probs, labels, self.layout,
                                              self.draws[rows]).items():
      self.values[name][rows] = values
    self.point_hits += (metrics.top1(probs) == labels[:, None]).sum(0)
    if len(self.layout.pairs):
      self.pair_changes += metrics.top1_changed(probs, self.layout.pairs).sum(0)
    if self.path is not None:
      self.path_correct[rows] = np.take_along_axis(
          probs[:, self.path, :], labels[:, None, None], axis=2)[..., 0]
    self.filled[rows] = True

  def finish(self, logit_spread: Optional[np.ndarray] = None,
             logit_groups: Optional[np.ndarray] = None) -> GridSummary:
    """The summary, with max_logit_change from the engine's logit spread when given.

    Raises:
      ValueError: some image's rows were never added.
    """
    if not self.filled.all():
      raise ValueError(f"{int((~self.filled).sum())} image(s) were never summarised")
    values = dict(self.values)
    if logit_spread is not None:
      values["max_logit_change"] = per_image.logit_change_values(self.layout, logit_spread,
                                                                 logit_groups)
    count = max(self.labels.shape[0], 1)
    return GridSummary(
        per_image=per_image.PerImage(groups=self.layout.groups, values=values),
        point_accuracy=self.point_hits / count, pair_change=self.pair_changes / count,
        path=self.path, path_correct=self.path_correct)


def summarize(result: Any, *, seed: int, consistency_samples: int = 16,
              path: Optional[np.ndarray] = None) -> GridSummary:
  """The GridSummary of a GridResult that holds its probabilities (result.probs)."""
  if result.probs is None:
    raise ValueError("this GridResult holds no probabilities (evaluated with "
                     "keep_probs=False): use the GridSummarizer it was evaluated with")
  summarizer = GridSummarizer(result, result.labels, seed=seed,
                              consistency_samples=consistency_samples, path=path)
  summarizer.add(slice(0, len(result.labels)), result.probs)
  return summarizer.finish(result.logit_spread, result.logit_groups)


@dataclasses.dataclass(frozen=True)
class SummarizedGrid:
  """A protocol evaluated without keeping its probabilities: the engine's GridResult (probs
  None; grid, pairs, labels, logit spread, chunking) and its GridSummary."""
  result: Any
  summary: GridSummary


def evaluate_summarized(predict, variables, images_uint8: np.ndarray, labels: np.ndarray,
                        protocol, *, seed: int = 0, consistency_samples: int = 16,
                        **engine_options) -> SummarizedGrid:
  """evaluate.grid.evaluate_grid with every chunk of images reduced as it arrives (module
  docstring): the host never holds the (N, G, C) probabilities. The jagged path of a full
  grid (evaluate.jagged.jagged_path) is kept for the figures.

  engine_options: evaluate_grid's shardings, images_per_chunk, max_chunk_bytes, progress.
  """
  from evaluate import grid, jagged  # pylint: disable=g-import-not-at-top
  path = (None if protocol.sample_pairs else
          jagged.jagged_path(protocol.grid, np.asarray(protocol.pairs), protocol.name)[0])
  summarizer = GridSummarizer(grid.planned_description(protocol, len(labels), seed), labels,
                              seed=seed, consistency_samples=consistency_samples, path=path)
  result = grid.evaluate_grid(predict, variables, images_uint8, labels, protocol, seed=seed,
                              on_rows=summarizer.add, keep_probs=False, **engine_options)
  return SummarizedGrid(result, summarizer.finish(result.logit_spread, result.logit_groups))
