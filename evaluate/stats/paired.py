"""Paired comparisons of evaluated runs on the test images they share, with bootstrap intervals.

A Run is a label and one or more evaluated workdirs: the seeds of one setting (several
trainings that differ only by config.seed), each with its per-image file
(evaluate.stats.per_image, eval/per_image.npz). For two runs A and B, every protocol both hold and
every metric of evaluate.stats.per_image.MEAN_METRICS (the protocol's pooled value, per image the
equal-weight mean over sizes) is compared on the images both were evaluated on:

  a, b       the mean over seeds and shared images of A and of B (with a_ci_low..b_ci_high,
             each run's own interval from the same replicates)
  diff       b - a
  ci_low, ci_high   its interval from evaluate.stats.bootstrap.difference_interval: image
             resamples shared by A and B (paired by test-set index), seeds resampled
             independently per run, or with pair_seeds jointly, seed j of A with the seed
             of B trained with the same config.seed (the exact scheme:
             evaluate/stats/bootstrap.py, "Paired seeds")
  distinguishable   the interval excludes 0 (unadjusted; p_value: the smallest alpha at which
             it would; compare_runs adds Holm's adjusted verdict, evaluate.stats.multiplicity)

plus the accuracy on the untransformed images ("clean_accuracy"), per size for protocols
with several sizes ("by_group"), and, where every evaluation recorded it, the accuracy on the
whole test set ("test_set_accuracy": per_image.npz's test_set_correct, images paired by
test-set index, so over all 10,000 CIFAR-10 test images). max_logit_change (a max over images, not a mean) is reported
for both runs but not bootstrapped. A protocol that ran on a subset of an evaluation's images
(its `num_images`, evaluate.images.protocol_image_rows) is compared on the images its subsets
share (its own "n_images"); runs evaluated with the same eval seed and images share the whole
subset.

Refused (IncomparableRunsError, a ValueError; `python -m evaluate.compare` exits 2): runs
without a shared image, with pair_seeds runs whose seed numbers are unknown, repeated or not
the same set, a test-set index whose label differs between evaluations (another
test set), an evaluation listing an image twice, a protocol name whose type or options differ
between the evaluations, no protocol in common, or a protocol whose subsets share no image.
Images evaluated by only some of the
workdirs are left out (counted in "images_left_out"); protocols that only some hold are listed
in "protocols_skipped".

The dict of `compare_runs` is what paired.json holds; evaluate.paired_tables writes it and
renders its tables (paired.md, the sweep summary's differences, RESULTS.md's tables).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from evaluate.stats import bootstrap, multiplicity, per_image
from evaluate.json_values import finite_or_none

CLEAN = "clean_accuracy"
TEST_SET = "test_set_accuracy"
# The range of every compared per-image value: all of MEAN_METRICS and the accuracies are
# proportions (fractions, 0/1 values, mean |probability change|), so each run's interval is
# clipped to [0, 1] and a difference's to [-1, 1] (evaluate/stats/bootstrap.py, "Range").
RANGE = (0.0, 1.0)
METHOD = ("95% percentile bootstrap of B - A over the shared test images (one image resample "
          "per replicate, shared by A and B: paired by test-set index) and, with several "
          "seeds, over seeds (resampled independently per run; the seed term carries the "
          "seed-to-seed variation beyond the seed x image noise), widened by t / z with "
          "Welch-Satterthwaite degrees of freedom, clipped to the possible range ([0, 1] for "
          "a run, [-1, 1] for a difference); evaluate/stats/bootstrap.py")
METHOD_PAIRED_SEEDS = (
    "95% percentile bootstrap of B - A over the shared test images (one image resample per "
    "replicate, shared by A and B: paired by test-set index) and over seeds paired by "
    "config.seed (one seed resample per replicate, shared by A and B: seed j of A with seed j "
    "of B, which share the data order and the initialisation of the parameters they have in "
    "common), widened by t / z with Welch-Satterthwaite degrees of freedom, clipped to the "
    "possible range ([0, 1] for a run, [-1, 1] for a difference); "
    "evaluate/stats/bootstrap.py, \"Paired seeds\"")
# paired.json's "seed_pairing": how the seeds of A and B were resampled.
SEED_PAIRINGS = {False: "independent", True: "joint"}


class IncomparableRunsError(ValueError):
  """Runs that cannot be paired: different images, test sets or protocol options."""


@dataclasses.dataclass(frozen=True)
class Run:
  """A label and the per-image files of its seeds (one per evaluated workdir); seeds: each
  workdir's config.seed (None: not known; needed only to pair seeds)."""
  label: str
  workdirs: tuple[str, ...]
  files: tuple[per_image.PerImageFile, ...]
  seeds: Optional[tuple[int, ...]] = None

  @property
  def num_seeds(self) -> int:
    return len(self.files)


def load_run(label: str, workdirs: Sequence[str],
             seeds: Optional[Sequence[int]] = None) -> Run:
  """Reads the per-image file of every workdir (PerImageFileError if one is missing); seeds:
  the config.seed of each workdir, in the same order (or None)."""
  if not workdirs:
    raise ValueError(f"run {label!r} has no workdir")
  if seeds is not None and len(seeds) != len(workdirs):
    raise ValueError(f"run {label!r}: {len(seeds)} seeds for {len(workdirs)} workdirs")
  return Run(label=label, workdirs=tuple(workdirs),
             files=tuple(per_image.load(workdir) for workdir in workdirs),
             seeds=None if seeds is None else tuple(int(s) for s in seeds))


def seed_paired(run_a: Run, run_b: Run) -> Run:
  """run_b with its seeds in the order of run_a's seed numbers, so that seed j of both was
  trained with the same config.seed (for pair_seeds).

  Raises:
    IncomparableRunsError: a run whose seeds are unknown or repeated, or runs whose seed
      numbers are not the same set (the seeds cannot be paired).
  """
  for run in (run_a, run_b):
    if run.seeds is None:
      raise IncomparableRunsError(
          f"cannot pair seeds: the seed numbers of run {run.label!r} are not known (its "
          "workdirs' config.json)")
    if len(set(run.seeds)) != len(run.seeds):
      raise IncomparableRunsError(
          f"cannot pair seeds: run {run.label!r} has repeated seed numbers {list(run.seeds)} "
          f"({', '.join(run.workdirs)})")
  if set(run_a.seeds) != set(run_b.seeds):
    raise IncomparableRunsError(
        f"cannot pair seeds: run {run_a.label!r} has seeds {sorted(run_a.seeds)} and run "
        f"{run_b.label!r} has seeds {sorted(run_b.seeds)}; pairing needs the same seed numbers "
        "in both (compare without --pair_seeds, or with the seeds both finished)")
  order = [run_b.seeds.index(s) for s in run_a.seeds]
  return Run(label=run_b.label, workdirs=tuple(run_b.workdirs[i] for i in order),
             files=tuple(run_b.files[i] for i in order), seeds=run_a.seeds)


def _check_unique(file: per_image.PerImageFile) -> None:
  indices = file.image_indices
  if len(np.unique(indices)) != len(indices):
    raise IncomparableRunsError(f"{file.path} lists a test image more than once: its images "
                                "cannot be paired")


def _intersection(index_arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
  """(the indices every array holds (N,) sorted, per array the positions (N,) of those
  indices in it); the arrays hold distinct values."""
  shared = np.unique(index_arrays[0])
  for indices in index_arrays[1:]:
    shared = np.intersect1d(shared, indices)
  positions = []
  for indices in index_arrays:
    order = np.argsort(indices)
    positions.append(order[np.searchsorted(indices[order], shared)])
  return shared, positions


def shared_images(files: Sequence[per_image.PerImageFile]) -> tuple[np.ndarray, list[np.ndarray]]:
  """(the test-set indices every file holds (N,) sorted, per file the rows (N,) of those
  images in it).

  Raises:
    IncomparableRunsError: no image in common, a repeated image, or an image whose label
      differs between files.
  """
  for file in files:
    _check_unique(file)
  shared, rows = _intersection([file.image_indices for file in files])
  if shared.size == 0:
    raise IncomparableRunsError(
        "the evaluations share no test image, so they cannot be paired: "
        + "; ".join(f"{f.path}: {len(f.image_indices)} images from index "
                    f"{f.image_indices.min()}" for f in files)
        + ". Evaluate them with the same config.eval.num_images, image_selection and seed.")
  reference = files[0].labels[rows[0]]
  for file, row in zip(files[1:], rows[1:]):
    differ = np.flatnonzero(file.labels[row] != reference)
    if differ.size:
      index = shared[differ[0]]
      raise IncomparableRunsError(
          f"test image {index} has label {reference[differ[0]]} in {files[0].path} but "
          f"{file.labels[row][differ[0]]} in {file.path} ({differ.size} such images): the "
          "runs were evaluated on different test sets and cannot be paired")
  return shared, rows


def protocol_images(files: Sequence[per_image.PerImageFile],
                    name: str) -> tuple[np.ndarray, list[np.ndarray]]:
  """(the test-set indices protocol `name` ran on in every file (N_p,) sorted, per file the
  rows (N_p,) of those images in the protocol's values).

  A protocol with num_images runs on a subset of each evaluation's images (the same subset
  for evaluations with the same eval seed and images, evaluate.images.protocol_image_rows);
  it is compared on the images its subsets share. Call shared_images first (it checks the
  labels, which then hold for these images too).

  Raises:
    IncomparableRunsError: the protocol's subsets share no image.
  """
  shared, rows = _intersection([file.protocol_indices(name) for file in files])
  if shared.size == 0:
    raise IncomparableRunsError(
        f"protocol {name!r} ran on images that no two evaluations share ("
        + "; ".join(f"{f.path}: {len(f.protocols[name].rows)} images" for f in files)
        + "): evaluate them with the same config.eval.seed and num_images, so that a "
        "protocol with num_images draws the same subset")
  return shared, rows


def common_protocols(files: Sequence[per_image.PerImageFile]) -> tuple[list[str], list[str]]:
  """(protocols every file holds, with the same type and options, in the first file's order;
  protocols only some hold).

  Raises:
    IncomparableRunsError: a protocol held by several files with different types or
      options, or no protocol in common.
  """
  names = [name for name in files[0].protocols
           if all(name in file.protocols for file in files)]
  every = []
  for file in files:
    every += [name for name in file.protocols if name not in every]
  for name in names:
    first = files[0].protocols[name]
    for file in files[1:]:
      other = file.protocols[name]
      if other.type != first.type or other.options != first.options:
        keys = sorted(k for k in set(first.options) | set(other.options)
                      if first.options.get(k) != other.options.get(k))
        raise IncomparableRunsError(
            f"protocol {name!r} differs between {files[0].path} ({first.type}) and "
            f"{file.path} ({other.type})" + (f" in options {keys}: "
            + ", ".join(f"{k}={first.options.get(k)!r} vs {other.options.get(k)!r}"
                        for k in keys) if keys else "")
            + ": the runs were evaluated under different protocols and cannot be compared")
      if not np.array_equal(other.per_image.groups, first.per_image.groups):
        raise IncomparableRunsError(f"protocol {name!r} has groups {first.per_image.groups} "
                                    f"in {files[0].path} but {other.per_image.groups} in "
                                    f"{file.path}")
  if not names:
    raise IncomparableRunsError("the evaluations have no protocol in common: "
                                + "; ".join(f"{f.path}: {', '.join(f.protocols)}"
                                            for f in files))
  return names, [name for name in every if name not in names]


@dataclasses.dataclass(frozen=True)
class _Images:
  """The images a comparison uses: the shared images of the evaluations (for the untransformed
  accuracy) and, per protocol, the shared images it ran on; `rows` per file, into the file's
  arrays (images) and into each protocol's values (protocols)."""
  indices: np.ndarray
  rows: list[np.ndarray]
  protocols: dict[str, tuple[np.ndarray, list[np.ndarray]]]

  @classmethod
  def of(cls, files: Sequence[per_image.PerImageFile], names: Sequence[str]) -> "_Images":
    indices, rows = shared_images(files)
    return cls(indices, rows, {name: protocol_images(files, name) for name in names})

  def seeds(self, start: int, stop: int) -> "_Images":
    """The rows of files start..stop-1 (one run's seeds)."""
    return _Images(self.indices, self.rows[start:stop],
                   {name: (shared, rows[start:stop])
                    for name, (shared, rows) in self.protocols.items()})

  def image_set(self, key: tuple) -> bytes:
    """An id of the images quantity `key` ((CLEAN,) or (protocol, ...)) is measured on; the
    same for quantities on the same images, which share one bootstrap call."""
    shared = self.indices if key[0] == CLEAN else self.protocols[key[0]][0]
    return np.asarray(shared, np.int64).tobytes()


def _seed_rows(run_files: Sequence[per_image.PerImageFile], rows: Sequence[np.ndarray],
               protocol: str, metric: str) -> np.ndarray:
  """(S, N_p, K) the per-image values of one metric per seed, on the protocol's shared
  images (rows: per seed, into the protocol's values)."""
  return np.stack([file.protocols[protocol].per_image.values[metric][row]
                   for file, row in zip(run_files, rows)])


def _quantities(run_files: Sequence[per_image.PerImageFile], images: _Images,
                protocols: Sequence[str], by_group: bool) -> dict[tuple, np.ndarray]:
  """Every bootstrapped quantity of a run: key -> (S, N) per seed and shared image (N: the
  shared images, or for a protocol's quantities the shared images it ran on).

  Keys: (CLEAN,), (protocol, metric) pooled over groups (per_image.pooled), and with
  by_group, (protocol, metric, k) for group index k of protocols with several groups.
  Quantities without values (NaN: the metric has no pair or point there) are left out.
  """
  out = {(CLEAN,): np.stack([f.clean_correct[r] for f, r in zip(run_files, images.rows)])}
  for name in protocols:
    rows = images.protocols[name][1]
    for metric in per_image.MEAN_METRICS:
      values = _seed_rows(run_files, rows, name, metric)  # (S, N_p, K)
      pooled = np.stack([per_image.pooled(seed) for seed in values])
      if np.all(np.isfinite(pooled)):
        out[(name, metric)] = pooled
      if by_group and values.shape[2] > 1:
        for k in range(values.shape[2]):
          if np.all(np.isfinite(values[:, :, k])):
            out[(name, metric, k)] = values[:, :, k]
  return out


def _by_image_set(keys: Sequence[tuple], images: _Images) -> list[list[tuple]]:
  """`keys` split by the images they are measured on (one bootstrap call each), in order."""
  groups: dict[bytes, list[tuple]] = {}
  for key in keys:
    groups.setdefault(images.image_set(key), []).append(key)
  return list(groups.values())


def _max_logit_change(run_files, rows, protocol: str) -> Optional[float]:
  values = [file.protocols[protocol].per_image.values.get("max_logit_change")
            for file in run_files]
  if any(v is None for v in values):
    return None
  return finite_or_none(max(np.nanmax(v[row]) for v, row in zip(values, rows)))


def _test_set_entry(run_a: Run, run_b: Run, **options) -> Optional[dict[str, Any]]:
  """The paired accuracy difference over the whole test set (an entry as `_entry`'s plus
  "n_images"), or None where an evaluation did not record test_set_correct or the runs'
  test sets differ in size."""
  arrays = [f.test_set_correct for f in (*run_a.files, *run_b.files)]
  if any(a is None for a in arrays) or len({a.shape for a in arrays}) != 1:
    return None
  a = np.stack(arrays[:run_a.num_seeds])[None]  # (1, S_a, T)
  b = np.stack(arrays[run_a.num_seeds:])[None]  # (1, S_b, T)
  result = bootstrap.difference_interval(a, b, bounds=RANGE, **options)
  return {**_entry(result, 0), "n_images": int(a.shape[2])}


def _entry(result: bootstrap.DifferenceInterval, m: int) -> dict[str, Any]:
  return {"a": float(result.a.mean[m]), "b": float(result.b.mean[m]),
          "diff": float(result.diff[m]), "ci_low": float(result.low[m]),
          "ci_high": float(result.high[m]),
          "distinguishable": bool(result.distinguishable[m]),
          "p_value": float(result.p_value[m]),
          "a_ci_low": float(result.a.low[m]), "a_ci_high": float(result.a.high[m]),
          "b_ci_low": float(result.b.low[m]), "b_ci_high": float(result.b.high[m])}


def _left_out(index_arrays: Sequence[np.ndarray], shared: np.ndarray) -> int:
  """How many images some of the arrays hold but not all."""
  return int(np.unique(np.concatenate(index_arrays)).size - shared.size)


def compare_pair(run_a: Run, run_b: Run, *, replicates: int = bootstrap.DEFAULT_REPLICATES,
                 seed: int = 0, confidence: float = bootstrap.DEFAULT_CONFIDENCE,
                 by_group: bool = True, pair_seeds: bool = False) -> dict[str, Any]:
  """B - A on the images both runs share (module docstring); a JSON-able dict:

    {"a", "b" (labels), "n_images", "n_seeds_a", "n_seeds_b", "images_left_out",
     "clean_accuracy": entry, "protocols": {name: {"type", "n_images", "images_left_out",
       "metrics": {metric: entry}, "max_logit_change": {"a", "b", "bootstrapped": false},
       "by_group": None, or {"groups": [...], metric: [entry or None per group]}}},
     "protocols_skipped": [...]}
  with entry = {"a", "b", "diff", "ci_low", "ci_high", "distinguishable", "p_value",
  "a_ci_low", "a_ci_high", "b_ci_low", "b_ci_high"} (p_value: bootstrap.interval_p_value, the
  smallest alpha at which the interval excludes 0; every interval within RANGE). n_images: the images every evaluation holds (the
  untransformed accuracy's); a protocol's n_images: those of its images every evaluation ran
  it on (fewer for a protocol with num_images). The quantities on the same images share one
  bootstrap call (the same resamples); each set of images gets its own, from `seed`.
  images_left_out: images some evaluation holds (ran the protocol on) but not all.
  pair_seeds: seed j of A and the seed of B with the same config.seed are resampled jointly
  (seed_paired; evaluate/stats/bootstrap.py, "Paired seeds"); the dict then also holds
  "seeds", the paired seed numbers in order.

  Raises:
    IncomparableRunsError (module docstring).
  """
  if pair_seeds:
    run_b = seed_paired(run_a, run_b)
  files = [*run_a.files, *run_b.files]
  names, skipped = common_protocols(files)
  images = _Images.of(files, names)
  images_a = images.seeds(0, run_a.num_seeds)
  images_b = images.seeds(run_a.num_seeds, len(files))
  quantities_a = _quantities(run_a.files, images_a, names, by_group)
  quantities_b = _quantities(run_b.files, images_b, names, by_group)
  entries = {}
  for keys in _by_image_set([key for key in quantities_a if key in quantities_b], images):
    result = bootstrap.difference_interval(
        np.stack([quantities_a[key] for key in keys]),
        np.stack([quantities_b[key] for key in keys]),
        replicates=replicates, seed=seed, confidence=confidence, bounds=RANGE,
        pair_seeds=pair_seeds)
    entries.update({key: _entry(result, m) for m, key in enumerate(keys)})
  out = {"a": run_a.label, "b": run_b.label, "n_images": int(images.indices.size),
         "n_seeds_a": run_a.num_seeds, "n_seeds_b": run_b.num_seeds,
         "images_left_out": _left_out([f.image_indices for f in files], images.indices),
         CLEAN: entries[(CLEAN,)], "protocols": {}, "protocols_skipped": skipped}
  if pair_seeds:
    out["seeds"] = list(run_a.seeds)
  test_set = _test_set_entry(run_a, run_b, replicates=replicates, seed=seed,
                             confidence=confidence, pair_seeds=pair_seeds)
  if test_set is not None:
    out[TEST_SET] = test_set
  for name in names:
    shared = images.protocols[name][0]
    groups = run_a.files[0].protocols[name].per_image.groups
    grouped = None
    if by_group and len(groups) > 1:
      grouped = {"groups": [int(g) for g in groups]}
      grouped.update({metric: [entries.get((name, metric, k)) for k in range(len(groups))]
                      for metric in per_image.MEAN_METRICS})
    out["protocols"][name] = {
        "type": run_a.files[0].protocols[name].type,
        "n_images": int(shared.size),
        "images_left_out": _left_out([f.protocol_indices(name) for f in files], shared),
        "metrics": {metric: entries[(name, metric)] for metric in per_image.MEAN_METRICS
                    if (name, metric) in entries},
        "max_logit_change": {"a": _max_logit_change(run_a.files,
                                                    images_a.protocols[name][1], name),
                             "b": _max_logit_change(run_b.files,
                                                    images_b.protocols[name][1], name),
                             "bootstrapped": False},
        "by_group": grouped}
  return out


def _mean_entry(result: bootstrap.MeanInterval, m: int) -> dict[str, float]:
  return {"mean": float(result.mean[m]), "ci_low": float(result.low[m]),
          "ci_high": float(result.high[m])}


def summarise_run(run: Run, *, replicates: int = bootstrap.DEFAULT_REPLICATES, seed: int = 0,
                  confidence: float = bootstrap.DEFAULT_CONFIDENCE,
                  by_group: bool = False) -> dict[str, Any]:
  """One run's means over seeds and the images all its seeds share, with intervals
  (evaluate.stats.bootstrap.mean_interval, one call per set of images):

    {"label", "n_images", "n_seeds", "clean_accuracy": {"mean", "ci_low", "ci_high"},
     "protocols": {name: {"type", "sampled", "n_images", "metrics": {metric: {"mean",
       "ci_low", "ci_high"}}, "max_logit_change": float or None (max over seeds and images,
       not bootstrapped), "by_group": None, or with by_group for protocols with sizes
       (groups other than the single group [0]) {"groups": [...], metric: [{"mean",
       "ci_low", "ci_high"} or None per group]}}},
     "protocols_skipped": [...]}
  A protocol's n_images: the images all the seeds ran it on (fewer than n_images for a
  protocol with num_images).

  Raises:
    IncomparableRunsError: the seeds share no image or were evaluated under different
      protocol options.
  """
  names, skipped = common_protocols(run.files)
  images = _Images.of(run.files, names)
  quantities = _quantities(run.files, images, names, by_group=by_group)
  entries = {}
  for keys in _by_image_set(list(quantities), images):
    result = bootstrap.mean_interval(np.stack([quantities[key] for key in keys]),
                                     replicates=replicates, seed=seed, confidence=confidence,
                                     bounds=RANGE)
    entries.update({key: _mean_entry(result, m) for m, key in enumerate(keys)})
  out = {"label": run.label, "n_images": int(images.indices.size), "n_seeds": run.num_seeds,
         CLEAN: entries[(CLEAN,)], "protocols": {}, "protocols_skipped": skipped}
  for name in names:
    first = run.files[0].protocols[name]
    groups = first.per_image.groups
    grouped = None
    if by_group and (len(groups) > 1 or groups[0] != 0):  # sizes (one size: its pooled value)
      grouped = {"groups": [int(g) for g in groups]}
      grouped.update({metric: [entries.get((name, metric, k) if len(groups) > 1
                                           else (name, metric)) for k in range(len(groups))]
                      for metric in per_image.MEAN_METRICS})
    out["protocols"][name] = {
        "type": first.type, "sampled": first.sampled,
        "n_images": int(images.protocols[name][0].size),
        "metrics": {metric: entries[(name, metric)] for metric in per_image.MEAN_METRICS
                    if (name, metric) in entries},
        "max_logit_change": _max_logit_change(run.files, images.protocols[name][1], name),
        "by_group": grouped}
  return out


def pairs_of(labels: Sequence[str], baseline: Optional[str] = None) -> list[tuple[str, str]]:
  """(A, B) pairs: (baseline, other) for every other label, or every (earlier, later) pair.

  Raises:
    ValueError: a baseline that is not one of the labels.
  """
  labels = list(labels)
  if baseline is not None:
    if baseline not in labels:
      raise ValueError(f"baseline {baseline!r} is not one of the compared runs: "
                       f"{', '.join(labels)}")
    return [(baseline, label) for label in labels if label != baseline]
  return [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]]


def compare_runs(runs: Sequence[Run], *, baseline: Optional[str] = None,
                 replicates: int = bootstrap.DEFAULT_REPLICATES, seed: int = 0,
                 confidence: float = bootstrap.DEFAULT_CONFIDENCE,
                 pair_seeds: bool = False) -> dict[str, Any]:
  """Every pair of `runs` (pairs_of), as paired.json holds it:

    {"method", "confidence", "bootstrap_samples", "bootstrap_seed", "seed_pairing",
     "baseline",
     "runs": {label: {"workdirs": [...], "n_seeds"}},
     "pairs": [compare_pair(A, B) ...],
     "multiplicity": {"method", "alpha", "families": {name: size}}}

  Each pair's bootstrap starts from `seed`, so a pair's numbers do not depend on the other
  runs compared with it. Every entry (per-size and accuracy entries included) then gets
  p_adjusted, distinguishable_adjusted and family: Holm's adjustment within its family at
  alpha = 1 - confidence (evaluate.stats.multiplicity). pair_seeds: every pair's seeds are
  resampled jointly by seed number (compare_pair); "seed_pairing" records which was used
  (SEED_PAIRINGS: "joint" or "independent").

  Raises:
    IncomparableRunsError: a pair that cannot be compared (module docstring), with
      pair_seeds also runs whose seeds cannot be paired (seed_paired).
    ValueError: repeated labels, or an unknown baseline.
  """
  by_label = {run.label: run for run in runs}
  if len(by_label) != len(runs):
    raise ValueError(f"repeated run labels: {[run.label for run in runs]}")
  pairs = pairs_of(list(by_label), baseline)
  options = dict(replicates=replicates, seed=seed, confidence=confidence,
                 pair_seeds=pair_seeds)
  method = METHOD_PAIRED_SEEDS if pair_seeds else METHOD
  out = {
      "method": method.replace("95%", f"{confidence:.0%}"),
      "confidence": confidence, "bootstrap_samples": replicates, "bootstrap_seed": seed,
      "seed_pairing": SEED_PAIRINGS[pair_seeds],
      "baseline": baseline,
      "runs": {run.label: {"workdirs": list(run.workdirs), "n_seeds": run.num_seeds}
               for run in runs},
      "pairs": [compare_pair(by_label[a], by_label[b], **options) for a, b in pairs]}
  out["multiplicity"] = multiplicity.adjust(out, round(1.0 - confidence, 12))
  return out
