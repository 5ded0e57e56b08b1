"""The statistics of `python -m evaluate.compare`: the runs' interval summaries and their paired
comparison, from the runs' per-image files.

Runs are label -> workdirs (the seeds of one run, evaluate.compare.group_workdirs). Every run
whose workdirs all have per-image files is summarised (evaluate.stats.paired.summarise_run,
per size too); with two or more such runs and no workdir without one, every pair of runs (or
each against the baseline) is compared (evaluate.stats.paired.compare_runs). Nothing is
written here.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from evaluate.stats import bootstrap, paired, per_image


def without_per_image_files(runs: Mapping[str, Sequence[str]]) -> list[str]:
  """The workdirs of `runs` that have no per-image file (evaluated before they existed)."""
  return [w for ws in runs.values() for w in ws if not os.path.exists(per_image.find(w))]


def summarise_and_compare(runs: Mapping[str, Sequence[str]], *,
                          paired_comparison: Optional[bool] = None,
                          baseline: Optional[str] = None,
                          replicates: int = bootstrap.DEFAULT_REPLICATES, seed: int = 0,
                          confidence: float = bootstrap.DEFAULT_CONFIDENCE,
                          seeds: Optional[Mapping[str, Sequence[int]]] = None,
                          pair_seeds: bool = False,
                          say: Callable[[str], Any] = print
                          ) -> tuple[dict[str, dict[str, Any]], Optional[dict[str, Any]]]:
  """(run label -> summarise_run dict, the compare_runs dict or None).

  Args:
    runs: label -> the run's workdirs.
    paired_comparison: True: the comparison is required; None: made when every workdir has a
      per-image file (else a note); False: not made.
    baseline: compare every run with this one only (default: every pair of runs).
    replicates, seed, confidence: the bootstrap (evaluate.stats.bootstrap).
    seeds: label -> each workdir's config.seed (in the order of its workdirs), or None.
    pair_seeds: resample the seeds of the runs compared jointly, by seed number (needs
      `seeds`; evaluate.stats.paired.seed_paired).
    say: prints the notes (why there is no comparison, or no interval for a run).
  Raises:
    evaluate.stats.per_image.PerImageFileError: a missing per-image file when
      paired_comparison is True.
    evaluate.stats.paired.IncomparableRunsError (a ValueError): runs that cannot be paired
      (with pair_seeds, also runs whose seed numbers differ).
  """
  missing = without_per_image_files(runs)
  if missing and paired_comparison:
    raise per_image.PerImageFileError(
        f"No per-image results for {', '.join(missing)}: re-run `python -m evaluate` on "
        "them (evaluations before per-image files existed have only eval.json).")
  pairing = paired_comparison is not False and not missing and len(runs) > 1
  options = dict(replicates=replicates, seed=seed, confidence=confidence)
  loaded, summaries = {}, {}
  for label, workdirs in runs.items():
    if any(w in missing for w in workdirs):
      continue
    loaded[label] = paired.load_run(label, workdirs, (seeds or {}).get(label))
    try:
      summaries[label] = paired.summarise_run(loaded[label], by_group=True, **options)
    except paired.IncomparableRunsError as error:
      if pairing:
        raise
      say(f"note: run {label!r}: no interval in the plots: its seeds cannot be pooled: "
          f"{error}")
  comparison = None
  if paired_comparison is not False:
    if missing:
      say(f"note: no paired comparison: no per_image.npz in {', '.join(missing)} (evaluated "
          "before per-image results existed; re-run `python -m evaluate` to get them)")
    elif len(runs) < 2:
      say("note: no paired comparison: one run only")
    else:
      comparison = paired.compare_runs(list(loaded.values()), baseline=baseline,
                                       pair_seeds=pair_seeds, **options)
  return summaries, comparison
