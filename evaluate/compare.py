"""Compares evaluated runs: paired differences with intervals, curves on one plot, a table.

  python -m evaluate.compare --workdirs runs/alexnet,runs/nostride --out runs/compare
  python -m evaluate.compare --workdirs runs/a,runs/b --labels "crop 0-4,crop 0-8" --out cmp
  python -m evaluate.compare --workdir "runs/sweep/aps,seed=0" --label aps \
      --workdir "runs/sweep/stride,seed=0" --label stride --out cmp   # names with commas
  # several seeds per run: repeat a label, or give a quoted glob (one run per pattern)
  python -m evaluate.compare --workdir "runs/sweep/stride,seed=*" \
      --workdir "runs/sweep/aps,seed=*" --baseline stride --out cmp
  python -m evaluate.compare --workdir "runs/s/aps,seed=0" --label aps \
      --workdir "runs/s/aps,seed=1" --label aps --workdir "runs/s/lps,seed=0" --label lps ...
  # seeds paired by config.seed (runs trained with the same seed numbers)
  python -m evaluate.compare --workdir "runs/sweep/stride,seed=*" \
      --workdir "runs/sweep/aps,seed=*" --baseline stride --pair_seeds --out cmp

Runs and seeds: every --workdir/--workdirs value is one evaluated workdir, or a glob pattern
(quoted, so that the shell leaves it alone; `*`, `?`, `[`) matching several, which then form
one run whose seeds they are. Values with the same label (--label/--labels, one per value)
form one run too. Default labels: the workdir's name (a pattern's, without its ",seed=..."
part).

Reads each workdir's eval/eval.json and eval/per_image.npz (written by `python -m evaluate`)
and writes into --out:
  paired.json, paired.md: for every pair of runs (or each run against --baseline), every
    protocol and metric: A, B, B - A and its bootstrap interval over the shared test images
    (and seeds), and whether it excludes 0, before and after Holm's adjustment within its
    family (computed by evaluate.stats.compare and evaluate.stats.paired, the scheme in
    evaluate/stats/bootstrap.py, the adjustment in evaluate/stats/multiplicity.py; paired.md
    rendered by evaluate.paired_tables). Runs evaluated on different images or under different protocol
    options are refused (exit status 2, nothing written).
  sensitivity_vs_size_<protocol>.png (P(top-1 change), MAC and accuracy versus embedding
    size, one line per run, for every protocol with a size sweep),
    metrics_per_protocol.png (grouped bars, one colour per run),
    invariance_vs_accuracy.png (one panel per protocol: each run's P(top-1 change) against
    its accuracy on untransformed images): each run is its mean over seeds and images with
    the 95% bootstrap interval (seeds and images, evaluate.stats.paired.summarise_run) as error
    bars; with --baseline, paired_<metric>.png (P(top-1 change), accuracy, MAC): each run's
    paired difference from the baseline with its interval, a panel per protocol
    (evaluate.plots.intervals); compare.md (one row per workdir and protocol; mean ± standard
    error over images of each evaluation on its own).
--pair_seeds: seed j of A and the seed of B with the same config.seed (read from each
workdir's config.json) share the data order and the initialisation of the parameters both
models have, so the bootstrap resamples them jointly (evaluate/stats/bootstrap.py, "Paired
seeds"; paired.json's "seed_pairing" says which was used); runs whose seed numbers are not the
same set are refused (exit status 2).
Workdirs evaluated before per-image files existed get the plots (drawn per workdir with ±
standard error over images, labelled "(± s.e.)") and compare.md, with a note instead of the
paired comparison (--paired makes that an error).
Exit status: 0, 1 (a missing evaluation or bad flag), 2 (runs that cannot be paired).
"""
from __future__ import annotations

import glob
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from common.atomic_files import atomic_write_text
from evaluate import paired_tables
from evaluate.metrics import PAIR_METRICS
from evaluate.plots import comparison as comparison_plots
from evaluate.plots import intervals as interval_plots
from evaluate.report import (SUMMARY_METRICS, format_invariance, format_stat, load_report,
                             protocol_image_count)
from evaluate.stats import bootstrap, paired
from evaluate.stats import compare as stats_compare
from runtime.run_files import read_config_file

COMPARE_MD = "compare.md"


def default_labels(workdirs: Sequence[str]) -> list[str]:
  """The last path component of each workdir (made unique by the parent if they collide)."""
  labels = [os.path.basename(os.path.normpath(w)) for w in workdirs]
  if len(set(labels)) < len(labels):
    labels = [os.path.join(*os.path.normpath(w).split(os.sep)[-2:]) for w in workdirs]
  return labels


def markdown_table(reports: Mapping[str, Mapping[str, Any]]) -> str:
  """One row per (run, protocol): the summary metrics with standard errors."""
  lines = [
      "# Comparison of invariance evaluations",
      "",
      "Values: mean ± standard error over images; protocols with several sizes pool them "
      "with equal weight (eval.json 'pooling'). (sampled): computed on sampled points.",
      "",
      "| run | model | step | images | untransformed acc. | protocol | "
      + " | ".join(title for _, title in SUMMARY_METRICS) + " |",
      "|" + "---|" * (6 + len(SUMMARY_METRICS)),
  ]
  for label, report in reports.items():
    for name, entry in report["protocols"].items():
      cells = [label, report["model"].get("name", "?"), str(report["checkpoint_step"]),
               str(protocol_image_count(report, name)), format_stat(report["clean_accuracy"]),
               name + (" (sampled)" if entry.get("sampled") else "")]
      cells += [format_invariance(entry["metrics"].get(key), entry.get("max_logit_change"))
                if key in PAIR_METRICS else format_stat(entry["metrics"].get(key))
                for key, _ in SUMMARY_METRICS]
      lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def _fallback_label(label: str) -> str:
  return f"{label} (± s.e.)"


def compare_reports(reports: Mapping[str, Mapping[str, Any]], out_dir: str, *,
                    summaries: Optional[Mapping[str, Mapping[str, Any]]] = None,
                    members: Optional[Mapping[str, Sequence[str]]] = None,
                    comparison: Optional[Mapping[str, Any]] = None,
                    confidence: float = bootstrap.DEFAULT_CONFIDENCE) -> dict[str, Any]:
  """Writes the comparison plots and compare.md for `reports` (label -> eval.json dict).

  Args:
    reports: plot label -> eval.json dict, one per workdir (compare.md has a row each).
    summaries: run label -> evaluate.stats.paired.summarise_run(..., by_group=True) dict, for the
      runs with per-image files: the plots draw each such run once, its mean over seeds and
      images with its interval as error bars.
    members: run label -> the plot labels (keys of `reports`) of its workdirs; the workdirs
      of runs without a summary are drawn one by one with ± standard error over images,
      labelled "(± s.e.)". None: every report on its own.
    comparison: an evaluate.stats.paired.compare_runs dict; with a baseline, also
      paired_<metric>.png (evaluate.plots.intervals).
    confidence: the intervals' level, for the titles.
  Returns:
    {"markdown": path, "png": [paths]}.
  """
  os.makedirs(out_dir, exist_ok=True)
  summaries = dict(summaries or {})
  members = dict(members) if members is not None else {label: [label] for label in reports}
  fallback = [plot_label for run, labels in members.items() if run not in summaries
              for plot_label in labels]
  bars = interval_plots.interval_label(confidence) if summaries else ""
  if fallback:
    bars += ("; " if bars else "") + (
        "(± s.e.): mean ± standard error over images of one evaluation (no per-image file)"
        if summaries else "error bars: ± standard error over images")
  pictures = []
  protocols = []
  for report in reports.values():
    protocols += [name for name, entry in report["protocols"].items()
                  if entry.get("by_group") and name not in protocols]
  mark = _fallback_label if summaries else (lambda label: label)
  for protocol in protocols:
    series = [interval_plots.size_series(run, summary["protocols"][protocol])
              for run, summary in summaries.items() if protocol in summary["protocols"]]
    series = [entry for entry in series if entry]
    series += [dict(label=mark(label), **reports[label]["protocols"][protocol]["by_group"])
               for label in fallback
               if reports[label]["protocols"].get(protocol, {}).get("by_group")]
    pictures.append(comparison_plots.plot_sensitivity_vs_size(
        series, os.path.join(out_dir, f"sensitivity_vs_size_{protocol}.png"),
        title=f"{protocol}: sensitivity to one-pixel moves versus embedding size ({bars})"))
  series = [interval_plots.metric_series(run, summary) for run, summary in summaries.items()]
  series += [dict(label=mark(label), clean_accuracy=reports[label]["clean_accuracy"],
                  metrics={name: entry["metrics"]
                           for name, entry in reports[label]["protocols"].items()})
             for label in fallback]
  labels = interval_plots.protocol_labels(summaries)
  for label in fallback:
    labels.update({name: name for name in reports[label]["protocols"] if name not in labels})
  pictures.append(comparison_plots.plot_protocol_bars(
      series, os.path.join(out_dir, "metrics_per_protocol.png"),
      clean_accuracy={entry["label"]: entry["clean_accuracy"]["mean"] for entry in series},
      protocol_labels=labels, title=f"metrics per protocol ({bars})"))
  pictures.append(comparison_plots.plot_invariance_vs_accuracy(
      series, os.path.join(out_dir, "invariance_vs_accuracy.png"),
      title=f"invariance versus accuracy ({bars}; lower right is better)"))
  if comparison:
    pictures += interval_plots.plot_paired_differences(comparison, out_dir)
    pictures += interval_plots.plot_paired_by_size(comparison, out_dir)
  markdown_path = os.path.join(out_dir, COMPARE_MD)
  atomic_write_text(markdown_path, markdown_table(reports))
  return {"markdown": markdown_path, "png": pictures}


_GLOB_CHARACTERS = re.compile(r"[*?[]")
_SEED_SUFFIX = re.compile(r",seed=[^,/]*$")


def expand_workdir(value: str) -> list[str]:
  """[value] for an existing path or a plain name; the sorted matches of a glob pattern.

  Raises:
    FileNotFoundError: a pattern that matches nothing.
  """
  if os.path.exists(value) or not _GLOB_CHARACTERS.search(value):
    return [value]
  matches = sorted(path for path in glob.glob(value) if os.path.isdir(path))
  if not matches:
    raise FileNotFoundError(f"--workdir pattern {value!r} matches no directory")
  return matches


def _default_label(value: str) -> str:
  name = os.path.basename(os.path.normpath(value))
  return _SEED_SUFFIX.sub("", name) if _GLOB_CHARACTERS.search(name) else name


def group_workdirs(values: Sequence[str], labels: Optional[Sequence[str]] = None
                   ) -> dict[str, list[str]]:
  """label -> the workdirs of that run (its seeds), in order of first appearance.

  values: workdirs or glob patterns (module docstring); labels: one per value (repeated
  labels join their values into one run), or None for the default labels.

  Raises:
    ValueError: no values, or labels that are not one per value.
    FileNotFoundError: a pattern that matches nothing.
  """
  if not values:
    raise ValueError("Give at least one workdir to compare.")
  if labels:
    labels = list(labels)
    if len(labels) != len(values):
      raise ValueError(f"Need one label per --workdir value (repeat a label to join seeds "
                       f"into one run): {len(values)} workdirs, labels {labels}")
  else:
    labels = [_default_label(v) for v in values]
    if len(set(labels)) < len(labels):  # never join runs by accident: unique path labels
      labels = default_labels(values)
  runs: dict[str, list[str]] = {}
  for value, label in zip(values, labels):
    runs.setdefault(label, [])
    runs[label] += [w for w in expand_workdir(value) if w not in runs[label]]
  return runs


def _plot_labels(runs: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
  """Per run, one legend label per workdir (-> the workdir): the run's label, with the
  workdir's name for seeds."""
  out = {}
  for label, workdirs in runs.items():
    out[label] = {}
    for workdir in workdirs:
      name = os.path.basename(os.path.normpath(workdir))
      out[label][f"{label} [{name}]" if len(workdirs) > 1 else label] = workdir
  return out


def run_seeds(runs: Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
  """label -> the config.seed of each of its workdirs, in order: from workdir/config.json,
  or for an evaluation's own directory inside a workdir (python -m evaluate --out_dir
  workdir/eval_x) from its parent's config.json.

  Raises:
    ValueError: a workdir without a readable config.json or without a seed in it.
  """
  out = {}
  for label, workdirs in runs.items():
    out[label] = []
    for workdir in workdirs:
      config, _ = read_config_file(workdir)
      if config is None:
        config, _ = read_config_file(os.path.dirname(os.path.normpath(workdir)))
      if not isinstance(config, dict) or not isinstance(config.get("seed"), int):
        raise ValueError(f"--pair_seeds needs each workdir's seed: {workdir}/config.json (or "
                         "its parent's) is missing, unreadable or has no integer 'seed'")
      out[label].append(config["seed"])
  return out


def compare_workdirs(workdirs: Sequence[str], out_dir: str,
                     labels: Optional[Sequence[str]] = None, *,
                     paired_comparison: Optional[bool] = None, baseline: Optional[str] = None,
                     replicates: int = bootstrap.DEFAULT_REPLICATES, bootstrap_seed: int = 0,
                     confidence: float = bootstrap.DEFAULT_CONFIDENCE,
                     pair_seeds: bool = False, say=print) -> dict[str, Any]:
  """Reads each workdir's evaluation and writes the comparison into `out_dir`.

  Args:
    workdirs, labels: as group_workdirs.
    paired_comparison: True: the paired comparison is required; None: made when every
      workdir has a per-image file (else a note); False: not made.
    baseline: compare every run with this one only (default: every pair of runs).
    replicates, bootstrap_seed, confidence: the bootstrap (evaluate.stats.bootstrap).
    pair_seeds: resample the seeds of A and B jointly by config.seed (module docstring).
    say: prints the notes.
  Returns:
    {"markdown": compare.md, "png": [paths], "paired": {"json", "markdown"} or None}.
  Raises:
    FileNotFoundError: a workdir has no eval/eval.json (it was not evaluated).
    ValueError: no workdirs, labels that do not match the workdirs, an unknown baseline, a
      missing per-image file when paired_comparison is True, pair_seeds without a paired
      comparison or with a workdir whose seed is not recorded.
    evaluate.stats.paired.IncomparableRunsError (a ValueError): runs that cannot be paired; raised
      before anything is written.
  """
  runs = group_workdirs(workdirs, labels)
  if baseline is not None and baseline not in runs:
    raise ValueError(f"--baseline {baseline!r} is not one of the runs: {', '.join(runs)}")
  if pair_seeds and paired_comparison is False:
    raise ValueError("--pair_seeds pairs the seeds of the paired comparison: not with "
                     "--nopaired")
  seeds = run_seeds(runs) if pair_seeds else None
  plot_labels = _plot_labels(runs)
  reports = {label: load_report(workdir) for labels in plot_labels.values()
             for label, workdir in labels.items()}
  summaries, comparison = stats_compare.summarise_and_compare(
      runs, paired_comparison=paired_comparison, baseline=baseline, replicates=replicates,
      seed=bootstrap_seed, confidence=confidence, seeds=seeds, pair_seeds=pair_seeds, say=say)
  members = {label: list(labels) for label, labels in plot_labels.items()}
  files = compare_reports(reports, out_dir, summaries=summaries, members=members,
                          comparison=comparison, confidence=confidence)
  files["paired"] = paired_tables.write_paired(out_dir, comparison) if comparison else None
  return files


def joined_flag_values(listed: Optional[Sequence[str]],
                       repeated: Optional[Sequence[str]]) -> Optional[list[str]]:
  """The values of a comma-separated flag followed by those of its repeatable twin, whose
  values may contain commas (sweep members are named 'label,seed=0'); None if both are empty."""
  values = [*(listed or []), *(repeated or [])]
  return values or None


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    sys.exit(f"error: unexpected arguments {' '.join(argv[1:])} (quote glob patterns: "
             "--workdir \"runs/s/aps,seed=*\")")
  from absl import flags  # pylint: disable=g-import-not-at-top
  workdirs = joined_flag_values(flags.FLAGS.workdirs, flags.FLAGS.workdir)
  labels = joined_flag_values(flags.FLAGS.labels, flags.FLAGS.label)
  if not workdirs:
    sys.exit("error: give the runs to compare with --workdirs=a,b or --workdir=a --workdir=b")
  try:
    result = compare_workdirs(
        workdirs, flags.FLAGS.out, labels, paired_comparison=flags.FLAGS.paired,
        baseline=flags.FLAGS.baseline, replicates=flags.FLAGS.bootstrap_samples,
        bootstrap_seed=flags.FLAGS.bootstrap_seed, confidence=flags.FLAGS.confidence,
        pair_seeds=flags.FLAGS.pair_seeds, say=lambda line: print(line, file=sys.stderr))
  except paired.IncomparableRunsError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
  except (FileNotFoundError, ValueError) as error:
    sys.exit(f"error: {error}")
  with open(result["markdown"]) as f:
    print(f.read())
  if result["paired"]:
    with open(result["paired"]["markdown"]) as f:
      print(f.read())
    print(f"paired comparison: {result['paired']['json']}, {result['paired']['markdown']}")
  print(f"plots: {', '.join(result['png'])}")


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list("workdirs", None, "Comma-separated evaluated workdirs (each with "
                    "eval/eval.json) or glob patterns.")
  flags.DEFINE_multi_string("workdir", None, "One evaluated workdir or quoted glob pattern "
                            "(its matches are the seeds of one run), repeatable, for names "
                            "with commas (sweep members): compared after --workdirs.")
  flags.DEFINE_string("out", None, "Directory for paired.json, paired.md, the comparison "
                      "plots and compare.md.")
  flags.DEFINE_list("labels", None, "Comma-separated labels, one per workdir value (default: "
                    "the workdir names); a repeated label joins its workdirs into one run "
                    "(its seeds).")
  flags.DEFINE_multi_string("label", None, "One label, repeatable: follows --labels.")
  flags.DEFINE_string("baseline", None, "Compare every run with the run of this label only "
                      "(default: every pair of runs).")
  flags.DEFINE_integer("bootstrap_samples", bootstrap.DEFAULT_REPLICATES,
                       "Bootstrap resamples of the paired comparison.", lower_bound=1)
  flags.DEFINE_integer("bootstrap_seed", 0, "Seed of the bootstrap's resampling.")
  flags.DEFINE_float("confidence", bootstrap.DEFAULT_CONFIDENCE, "Level of the intervals.",
                     lower_bound=0.5, upper_bound=0.999)
  flags.DEFINE_bool("paired", None, "Require the paired comparison (error if a per-image "
                    "file is missing); --nopaired skips it. Default: made when every workdir "
                    "has per_image.npz.")
  flags.DEFINE_bool("pair_seeds", False, "Resample the seeds of the compared runs jointly, "
                    "seed j of A with the seed of B of the same config.seed (from each "
                    "workdir's config.json): they share the data order and the "
                    "initialisation of common parameters. Runs with different seed numbers "
                    "are refused.")
  flags.mark_flags_as_required(["out"])


if __name__ == "__main__":
  from absl import app  # pylint: disable=g-import-not-at-top
  _define_flags()
  app.run(main)
