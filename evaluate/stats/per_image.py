"""Per-image results: every metric of a protocol per evaluated image and group, and their file.

The per-image reduction is the one place where a protocol's grid predictions become numbers:
`reduce_grid(result)` gives, per image and group (the embedding size for embed_*, the single
group 0 otherwise), every metric of evaluate.metrics as that image's value over the group's
pairs or grid points; evaluate.report forms every summary of eval.json from these values
(`pooled_stat`, `group_stats`), and evaluate.stats.paired compares runs on them.

Per image i and group k (values (N, K) float64; NaN where the metric has no pair or point in
group k, e.g. a protocol whose pairs cover fewer groups than its points):
  p_top1_change        fraction of the group's pairs whose top-1 class differs
  mac                  mean over the group's pairs of |p_g1(c) - p_g2(c)|, c = top-1 at g1
  accuracy             fraction of the group's point columns with top-1 = label
  worst_case_accuracy  1 if every point column of the group is right, else 0
  consistency          fraction of the image's `samples` random pairs of the group's point
                       columns with the same top-1 (the draws of evaluate.metrics.consistency)
  stable_prediction    1 if the top-1 class is the same at every point column, else 0
  max_logit_change     the largest change of any logit over the group's evaluated grid points
                       (GridResult.logit_spread); its summary is a max over images, not a mean,
                       so it is reported but never bootstrapped (PER_IMAGE_MAX)
Point columns are the whole grid, or the uniformly drawn points of a sampled grid
(GridResult.point_columns); pairs are the protocol's one-pixel (one-step) moves.

Summaries (what eval.json holds): for a metric of MEAN_METRICS, per group the mean and the
standard error over images of its column; pooled over groups (the protocol's one number),
per image the equal-weight mean over the groups that have values, then mean and standard
error over images. For max_logit_change, the max over images (and groups).

Chunks: `reduce_rows` needs, for a set of images, every grid point of each of them (and the
consistency draws of those rows, `consistency_draws`, drawn once for all N images so that the
values do not depend on how the images are chunked); the rows of several calls concatenate.

The file (PER_IMAGE_FILE, written beside eval.json by evaluate.run; `save` / `load`), a NumPy
.npz (compressed) with the keys
  image_indices   (N,) int64   test-set index of every evaluated image, in evaluation order
  labels          (N,) int64   its true class
  clean_correct   (N,) float64 1.0 where the untransformed image is classified right
  test_set_correct (T,) float64 the same for every image of the test set, in test-set order
                               (T = 10,000 for CIFAR-10), so that accuracy can be compared
                               over the whole test set; absent in files written before it
  meta            () str       JSON: {"format_version", "protocols": {name: {"type",
                               "options", "sampled", "metrics": [...], "num_images"}}}
  <name>/rows     (N_p,) int64 the rows of image_indices the protocol ran on, in the order of
                               its values (all N rows, or the subset of a protocol with
                               num_images = N_p: evaluate.images.protocol_image_rows)
  <name>/groups   (K,) int64   the protocol's groups (sizes for embed_*, [0] otherwise)
  <name>/<metric> (N_p, K) float64  for every metric above (max_logit_change: absent when the
                               grid engine did not measure it)
Format version 1 (before per-protocol subsets) had no <name>/rows: every protocol ran on
every image; `load` reads it as rows = all N.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np

from common.atomic_files import atomic_write
from evaluate import metrics

PER_IMAGE_FILE = "per_image.npz"
FORMAT_VERSION = 2
# Versions `load` reads (1: no <name>/rows, every protocol on every image).
READABLE_VERSIONS = (1, 2)
# Metrics whose summary is a mean over images (and that a bootstrap over images can compare),
# in report order; binary (worst case, stable) and continuous ones alike.
MEAN_METRICS = ("accuracy", "worst_case_accuracy", "consistency", "p_top1_change", "mac",
                "stable_prediction")
# Per-image values whose summary is the max over images: reported, never bootstrapped.
PER_IMAGE_MAX = ("max_logit_change",)


@dataclasses.dataclass(frozen=True)
class GroupLayout:
  """How a grid's columns fall into groups; the same for every image.

  Attributes:
    groups: (K,) int64 sorted, every group of a pair or of a point column.
    pairs: (P, 2) grid columns of each one-pixel pair; pair_index: (P,) its group's index
      into `groups`.
    point_columns: (G_p,) the columns of the point metrics; point_index: (G_p,) their
      group's index into `groups`.
  """
  groups: np.ndarray
  pairs: np.ndarray
  pair_index: np.ndarray
  point_columns: np.ndarray
  point_index: np.ndarray


def layout_of(result: Any) -> GroupLayout:
  """The GroupLayout of an evaluate.grid.GridResult (or anything with pairs, pair_group,
  point_group and point_columns)."""
  pairs = np.asarray(result.pairs).reshape(-1, 2)
  pair_group = np.asarray(result.pair_group)
  point_columns = np.asarray(result.point_columns)
  point_group = np.asarray(result.point_group)[point_columns]
  groups = np.union1d(pair_group, point_group).astype(np.int64)
  return GroupLayout(groups=groups, pairs=pairs,
                     pair_index=np.searchsorted(groups, pair_group),
                     point_columns=point_columns,
                     point_index=np.searchsorted(groups, point_group))


def consistency_draws(layout: GroupLayout, num_images: int, samples: int,
                      seed: int) -> np.ndarray:
  """(N, K, samples, 2) grid columns of the random point pairs of the consistency metric.

  Exactly the draws of evaluate.metrics.consistency(probs[:, point_columns], point groups,
  samples_per_image=samples, seed=seed): numpy.random.default_rng(seed), groups in sorted
  order, per group first ~ uniform over its point columns, second ~ uniform over the others.
  -1 for a group without point columns.

  Raises:
    ValueError: samples < 1, or a group with exactly one point column.
  """
  if samples < 1:
    raise ValueError(f"samples_per_image must be >= 1, got {samples}")
  rng = np.random.default_rng(seed)
  draws = np.full((num_images, len(layout.groups), samples, 2), -1, np.int64)
  for k in range(len(layout.groups)):
    columns = layout.point_columns[layout.point_index == k]
    if len(columns) == 0:
      continue
    if len(columns) < 2:
      raise ValueError("consistency needs at least 2 grid points per group")
    first = rng.integers(0, len(columns), (num_images, samples))
    second = (first + rng.integers(1, len(columns), first.shape)) % len(columns)
    draws[:, k, :, 0], draws[:, k, :, 1] = columns[first], columns[second]
  return draws


def _by_group(per_column: np.ndarray, index: np.ndarray, num_groups: int,
              reduce: str) -> np.ndarray:
  """(n, K) float64: per image, the mean ('mean') or all ('all') of per_column (n, M) over
  the columns of each group (index (M,) into the groups); NaN for a group without columns."""
  out = np.full((per_column.shape[0], num_groups), np.nan)
  for k in range(num_groups):
    selected = per_column[:, index == k]
    if selected.shape[1]:
      out[:, k] = selected.mean(1) if reduce == "mean" else selected.all(1)
  return out


def reduce_rows(probs: np.ndarray, labels: np.ndarray, layout: GroupLayout,
                draws: np.ndarray) -> dict[str, np.ndarray]:
  """Every metric of MEAN_METRICS per image and group, for a set of images.

  Args:
    probs: (n, G, C) probabilities (or logits: only argmax and MAC use them; MAC needs
      probabilities) of n images at every grid column.
    labels: (n,) true classes.
    layout: the grid's GroupLayout.
    draws: (n, K, S, 2) these images' rows of consistency_draws.
  Returns:
    metric -> (n, K) float64 (module docstring).
  """
  probs = np.asarray(probs)
  num_groups = len(layout.groups)
  top = metrics.top1(probs)  # (n, G)
  values = {}
  if len(layout.pairs):
    changed = metrics.top1_changed(probs, layout.pairs).astype(np.float64)
    change = metrics.absolute_change(probs.astype(np.float64), layout.pairs)
  else:
    changed = change = np.zeros((probs.shape[0], 0))
  values["p_top1_change"] = _by_group(changed, layout.pair_index, num_groups, "mean")
  values["mac"] = _by_group(change, layout.pair_index, num_groups, "mean")
  hits = (top[:, layout.point_columns] == np.asarray(labels)[:, None])
  values["accuracy"] = _by_group(hits.astype(np.float64), layout.point_index, num_groups,
                                 "mean")
  values["worst_case_accuracy"] = _by_group(hits, layout.point_index, num_groups, "all")
  point_top = top[:, layout.point_columns]
  # Stable: every point column of the group has the top-1 of the group's first column.
  first_of_group = np.full(num_groups, -1)
  for k in range(num_groups):
    members = np.flatnonzero(layout.point_index == k)
    if len(members):
      first_of_group[k] = members[0]
  same_as_first = point_top == point_top[:, first_of_group[layout.point_index]]
  values["stable_prediction"] = _by_group(same_as_first, layout.point_index, num_groups, "all")
  rows = np.arange(top.shape[0])[:, None, None]
  valid = draws[..., 0] >= 0  # (n, K, S)
  same = (top[rows, np.maximum(draws[..., 0], 0)] == top[rows, np.maximum(draws[..., 1], 0)])
  with np.errstate(invalid="ignore"):
    values["consistency"] = np.where(valid.any(-1), same.mean(-1), np.nan)
  return {name: values[name] for name in MEAN_METRICS}


@dataclasses.dataclass(frozen=True)
class PerImage:
  """One protocol's per-image values.

  Attributes:
    groups: (K,) int64 the groups (sizes for embed_*; [0] otherwise).
    values: metric -> (N, K) float64, every metric of MEAN_METRICS and, when measured,
      max_logit_change.
  """
  groups: np.ndarray
  values: dict[str, np.ndarray]


def reduce_grid(result: Any, *, seed: int, consistency_samples: int = 16) -> PerImage:
  """Every metric per image and group of an evaluate.grid.GridResult (module docstring).

  seed and consistency_samples: the consistency metric's draws (consistency_draws).
  """
  layout = layout_of(result)
  probs = np.asarray(result.probs)
  draws = consistency_draws(layout, probs.shape[0], consistency_samples, seed)
  values = reduce_rows(probs, np.asarray(result.labels), layout, draws)
  if result.logit_spread is not None:
    values["max_logit_change"] = logit_change_values(layout, result.logit_spread,
                                                     result.logit_groups)
  return PerImage(groups=layout.groups, values=values)


def logit_change_values(layout: GroupLayout, logit_spread: np.ndarray,
                        logit_groups: np.ndarray) -> np.ndarray:
  """(N, K) float64 max_logit_change per image and group of `layout` from the grid engine's
  (N, groups) logit spread (GridResult.logit_spread, logit_groups); NaN for a group the
  engine did not measure."""
  logit_spread = np.asarray(logit_spread, np.float64)
  spread = np.full((logit_spread.shape[0], len(layout.groups)), np.nan)
  logit_groups = np.asarray(logit_groups)
  present = np.isin(logit_groups, layout.groups)
  spread[:, np.searchsorted(layout.groups, logit_groups[present])] = logit_spread[:, present]
  return spread


# --- summaries ------------------------------------------------------------------------------


def _present(values: np.ndarray) -> np.ndarray:
  """(K,) bool: the groups where the metric has values (a column not all NaN)."""
  return ~np.all(np.isnan(values), axis=0)


def pooled(values: np.ndarray) -> np.ndarray:
  """(N,) per image, the equal-weight mean of (N, K) values over the groups that have
  values (evaluate.metrics.POOLING)."""
  values = np.asarray(values, np.float64)
  present = _present(values)
  if not present.any():  # a metric without values at all (the shift attack's pair metrics)
    return np.full(values.shape[0], np.nan)
  return values[:, present].mean(1)


def pooled_stat(values: np.ndarray) -> metrics.Stat:
  """{"mean", "stderr"} over images of `pooled(values)`: a protocol's summary number."""
  return metrics.stat(pooled(values))


def group_stats(values: np.ndarray, groups: np.ndarray) -> dict[str, list]:
  """{"group": [g...], "mean": [...], "stderr": [...]} per group that has values."""
  values = np.asarray(values, np.float64)
  present = _present(values)
  stats = [metrics.stat(column) for column in values[:, present].T]
  return {"group": [int(g) for g in np.asarray(groups)[present]],
          "mean": [s["mean"] for s in stats], "stderr": [s["stderr"] for s in stats]}


# --- the file -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProtocolValues:
  """One protocol of a per-image file: what it was (type, options, sampled) and its values.

  rows: (N_p,) int64 the rows of the file's image_indices the values belong to, in order
  (row j of every values array is image image_indices[rows[j]]); None = every row in order
  (`save` writes it as such, `load` always fills it).
  """
  type: str
  options: dict[str, Any]
  sampled: bool
  per_image: PerImage
  rows: Optional[np.ndarray] = None


@dataclasses.dataclass(frozen=True)
class PerImageFile:
  """The contents of a per-image file (module docstring)."""
  path: str
  image_indices: np.ndarray
  labels: np.ndarray
  clean_correct: np.ndarray
  protocols: dict[str, ProtocolValues]
  test_set_correct: Optional[np.ndarray] = None

  def protocol_indices(self, name: str) -> np.ndarray:
    """(N_p,) the test-set indices of protocol `name`'s rows of values."""
    return self.image_indices[self.protocols[name].rows]


def save(path: str, *, image_indices, labels, clean_correct,
         protocols: Mapping[str, ProtocolValues], test_set_correct=None) -> str:
  """Writes the per-image file (module docstring) atomically; returns its path
  (test_set_correct: None writes no such array)."""
  count = len(image_indices)
  rows = {name: np.arange(count, dtype=np.int64) if entry.rows is None
          else np.asarray(entry.rows, np.int64) for name, entry in protocols.items()}
  meta = {"format_version": FORMAT_VERSION, "protocols": {
      name: {"type": entry.type, "options": entry.options, "sampled": bool(entry.sampled),
             "metrics": list(entry.per_image.values), "num_images": int(len(rows[name]))}
      for name, entry in protocols.items()}}
  arrays = {"image_indices": np.asarray(image_indices, np.int64),
            "labels": np.asarray(labels, np.int64),
            "clean_correct": np.asarray(clean_correct, np.float64),
            "meta": np.asarray(json.dumps(meta, default=str))}
  if test_set_correct is not None:
    arrays["test_set_correct"] = np.asarray(test_set_correct, np.float64)
  for name, entry in protocols.items():
    arrays[f"{name}/rows"] = rows[name]
    arrays[f"{name}/groups"] = np.asarray(entry.per_image.groups, np.int64)
    for metric, values in entry.per_image.values.items():
      arrays[f"{name}/{metric}"] = np.asarray(values, np.float64)
  with atomic_write(path, "wb") as f:
    np.savez_compressed(f, **arrays)
  return path


class PerImageFileError(ValueError):
  """A per-image file that is missing, unreadable or inconsistent."""


def find(workdir_or_eval_dir: str) -> str:
  """The per-image file of an evaluation: `path` itself if it is a file, else
  path/per_image.npz, else path/eval/per_image.npz (the same places as eval.json)."""
  if os.path.isfile(workdir_or_eval_dir):
    if workdir_or_eval_dir.endswith(".npz"):
      return workdir_or_eval_dir
    workdir_or_eval_dir = os.path.dirname(workdir_or_eval_dir)  # an eval.json: its dir
  direct = os.path.join(workdir_or_eval_dir, PER_IMAGE_FILE)
  return direct if os.path.exists(direct) else os.path.join(workdir_or_eval_dir, "eval",
                                                            PER_IMAGE_FILE)


def load(workdir_or_path: str) -> PerImageFile:
  """Reads a per-image file (a path to it, or a directory as in `find`).

  Raises:
    PerImageFileError (a ValueError): no such file (an evaluation older than this file, or
      none), a file that cannot be read, or arrays whose shapes disagree.
  """
  path = find(workdir_or_path)
  if not os.path.exists(path):
    raise PerImageFileError(
        f"No per-image results {path}: run `python -m evaluate --workdir {workdir_or_path}` "
        "(evaluations before per-image results existed have only eval.json).")
  try:
    with np.load(path, allow_pickle=False) as data:
      arrays = {key: data[key] for key in data.files}
    meta = json.loads(str(arrays["meta"]))
  except (OSError, ValueError, KeyError) as error:
    raise PerImageFileError(f"Cannot read the per-image results {path}: {error}") from error
  version = meta.get("format_version")
  if version not in READABLE_VERSIONS:
    raise PerImageFileError(f"{path}: format_version {version}, this code reads "
                            f"{', '.join(map(str, READABLE_VERSIONS))}")
  indices = arrays["image_indices"]
  count = indices.shape[0]
  protocols = {}
  try:
    for name, info in meta["protocols"].items():
      rows = (np.arange(count, dtype=np.int64) if version == 1
              else arrays[f"{name}/rows"].astype(np.int64))
      if (rows.ndim != 1 or len(np.unique(rows)) != len(rows)
          or (len(rows) and (rows.min() < 0 or rows.max() >= count))):
        raise PerImageFileError(f"{path}: {name}/rows must be distinct rows of the {count} "
                                f"images, got shape {rows.shape}")
      groups = arrays[f"{name}/groups"]
      values = {metric: arrays[f"{name}/{metric}"] for metric in info["metrics"]}
      for metric, array in values.items():
        if array.shape != (len(rows), groups.shape[0]):
          raise PerImageFileError(f"{path}: {name}/{metric} has shape {array.shape}, "
                                  f"expected ({len(rows)}, {groups.shape[0]})")
      protocols[name] = ProtocolValues(type=info["type"], options=info["options"],
                                       sampled=bool(info["sampled"]),
                                       per_image=PerImage(groups=groups, values=values),
                                       rows=rows)
  except KeyError as error:
    raise PerImageFileError(f"Cannot read the per-image results {path}: missing "
                            f"{error}") from error
  if arrays["labels"].shape != (count,) or arrays["clean_correct"].shape != (count,):
    raise PerImageFileError(f"{path}: labels or clean_correct do not have {count} rows")
  return PerImageFile(path=path, image_indices=indices, labels=arrays["labels"],
                      clean_correct=arrays["clean_correct"], protocols=protocols,
                      test_set_correct=arrays.get("test_set_correct"))


def max_over_images(values: Optional[np.ndarray]) -> Optional[float]:
  """The summary of a PER_IMAGE_MAX metric: the max over images and groups (None if
  absent)."""
  if values is None:
    return None
  return float(np.nanmax(values))
