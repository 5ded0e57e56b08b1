"""Gathers a sweep's members into summary.csv, summary.md and plots in the sweep workdir.

Reads, per member directory: sweep_member.json (state, error), summary.json (test accuracy),
eval/eval.json (invariance metrics) and eval/per_image.npz (the metrics per image); a member
that is missing any of them is reported as such, never guessed. Members that differ only by
seed form a group (a "member" in the sweep's own words, e.g. `blur_size=3`).

A group's invariance metrics: the mean over its finished seeds and the test images they
share, with a 95% interval from the hierarchical bootstrap over seeds and images
(evaluate.stats.paired.summarise_run; the scheme in evaluate/stats/bootstrap.py). Groups whose
members have no per-image file (evaluated before it existed) show mean ± standard deviation
over seeds instead, marked. Test accuracy (the whole test set, no per-image record): mean ±
standard deviation over seeds. With a baseline group (`sweep.py --baseline=<group>`), every
other group's paired difference against it (evaluate.stats.paired.compare_runs, the same
machinery as `python -m evaluate.compare`): paired.json and paired.md, and a table in
summary.md. With pair_seeds (`sweep.py --collect --pair_seeds`), a group's seeds are paired
with the baseline's by seed number (config.seed; the bootstrap resamples them jointly,
evaluate/stats/bootstrap.py, "Paired seeds"); a group whose finished seeds are not the
baseline's is refused.

Written into the sweep workdir:
  summary.csv: one row per member: index, name, group, seed, every setting, state, error,
    final test accuracy, and <protocol>/<metric> for every protocol and summary metric
    (pooled over sizes with equal weight, as in eval.json), and <protocol>/max_logit_change.
  summary_groups.json: per group the interval summary ({"groups": {group: summarise_run's
    dict, or {"error": why not}}, "confidence", "bootstrap_samples", "bootstrap_seed"}).
  summary.md: a table of the groups' accuracies, one table per protocol (groups x metrics,
    mean [95% interval]), the differences against the baseline, the failed and missing
    members, the plots.
  paired.json, paired.md: with a baseline only (evaluate.stats.paired computes them,
    evaluate.paired_tables writes and renders them).
  sensitivity_vs_size_<protocol>.png: P(top-1 change), MAC and accuracy versus embedding size,
    one curve per group (protocols with a size sweep only);
  metrics_per_protocol.png: accuracy, worst-case accuracy, P(top-1 change) and MAC per
    protocol, one bar per group;
  invariance_vs_accuracy.png: per protocol, each group's P(top-1 change) against its
    accuracy on untransformed images;
    (these three: each group's mean over seeds and images with its 95% interval as error
    bars; groups without per-image files, marked †, with ± the standard deviation over seeds)
  accuracy.png: final test accuracy per group (bar = mean, dots = seeds);
  paired_<metric>.png: with a baseline only, every group's paired difference from it with its
    interval, a panel per protocol (evaluate.plots.intervals).
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from common.atomic_files import atomic_write, atomic_write_text
from evaluate import paired_tables, plots
from evaluate.metrics import PAIR_METRICS
from evaluate.plots import comparison as comparison_plots
from evaluate.plots import intervals as interval_plots
from evaluate.report import (EVAL_JSON, SUMMARY_METRICS, format_stat, is_float_rounding_zero,
                             protocol_image_count)
from evaluate.stats import bootstrap, paired, per_image
from evaluate.stats.seeds import mean_and_spread
from runtime import run_files
from runtime.run_files import SUMMARY_FILE
from sweeps.runner import DONE, FAILED, member_dir, read_json_or_none, read_status, state_of
from sweeps.spec import SweepMember

SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
SUMMARY_GROUPS_JSON = "summary_groups.json"
ACCURACY_PNG = "accuracy.png"
METRICS_PNG = "metrics_per_protocol.png"
INVARIANCE_PNG = "invariance_vs_accuracy.png"
# Metrics of a protocol summarised per group: columns of summary.md, panels of the curves.
_GROUP_METRICS = ("p_top1_change", "mac", "accuracy")


@dataclasses.dataclass
class MemberResult:
  """What one member's directory holds.

  state: 'done', 'failed', 'running' (or interrupted), or 'not started'.
  summary: summary.json (None if training did not finish); report: eval/eval.json (None if
  not evaluated).
  """
  member: SweepMember
  state: str
  error: Optional[str]
  summary: Optional[dict[str, Any]]
  report: Optional[dict[str, Any]]

  @property
  def test_accuracy(self) -> Optional[float]:
    return self.summary.get("final_test_accuracy") if self.summary else None


def read_member(workdir: str, member: SweepMember) -> MemberResult:
  directory = member_dir(workdir, member)
  status = read_status(directory)
  return MemberResult(
      member=member, state=state_of(status, member),
      error=status.get("error") if status else None,
      summary=read_json_or_none(os.path.join(directory, SUMMARY_FILE)),
      report=read_json_or_none(os.path.join(directory, run_files.EVAL_SUBDIR, EVAL_JSON)))


def _protocol_names(results: Sequence[MemberResult]) -> list[str]:
  names = []
  for result in results:
    if result.report:
      names += [name for name in result.report["protocols"] if name not in names]
  return names


def write_summary_csv(path: str, results: Sequence[MemberResult]) -> str:
  """summary.csv (module docstring); empty cells where a member has no value."""
  setting_paths = []
  for result in results:
    setting_paths += [p for p in result.member.settings if p not in setting_paths]
  protocols = _protocol_names(results)
  header = (["index", "name", "group", "seed"] + setting_paths
            + ["state", "error", "final_test_accuracy", "eval_untransformed_accuracy"]
            + [f"{protocol}/{metric}" for protocol in protocols
               for metric in [key for key, _ in SUMMARY_METRICS] + ["max_logit_change"]])
  with atomic_write(path, newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    for result in results:
      member = result.member
      row = [member.index, member.name, member.group, member.seed]
      row += [member.settings.get(p, "") for p in setting_paths]
      row += [result.state, result.error or "", _cell(result.test_accuracy),
              _cell(result.report["clean_accuracy"]["mean"] if result.report else None)]
      for protocol in protocols:
        entry = (result.report or {}).get("protocols", {}).get(protocol)
        row += [_cell(entry["metrics"].get(metric, {}).get("mean") if entry else None)
                for metric, _ in SUMMARY_METRICS]
        row.append(_cell(entry.get("max_logit_change") if entry else None))
      writer.writerow(row)
  return path


def _cell(value: Optional[float]) -> str:
  return "" if value is None else f"{value:.6g}"


def group_results(results: Sequence[MemberResult]) -> dict[str, list[MemberResult]]:
  """group name -> its members, in expansion order."""
  groups: dict[str, list[MemberResult]] = {}
  for result in results:
    groups.setdefault(result.member.group, []).append(result)
  return groups


def _format(mean: Optional[float], spread: Optional[float]) -> str:
  """mean ± spread over seeds, in the cell format of eval.json's Stats."""
  return format_stat({"mean": mean, "stderr": spread})


def _format_zero_aware(values: Sequence[float], max_logit_changes: Sequence[Optional[float]]
                       ) -> str:
  """mean ± spread over seeds, or "0 up to float rounding (max |logit change| = ...)" when
  every seed's value is 0 by evaluate.report.is_float_rounding_zero."""
  if values and all(is_float_rounding_zero(v, c) for v, c in zip(values, max_logit_changes)):
    return f"0 up to float rounding (max \\|logit change\\| = {max(max_logit_changes):.1e})"
  return _format(*mean_and_spread(values)[:2])


def seed_curve(members: Sequence[MemberResult], protocol: str) -> Optional[dict[str, Any]]:
  """A plots "sweep series" for one group and protocol: per size, the mean over seeds of
  each metric, with the std over seeds (or with one seed the standard error over images) as
  "stderr". None if no member of the group has that protocol's size sweep."""
  curves = [r.report["protocols"][protocol]["by_group"] for r in members
            if r.report and (r.report["protocols"].get(protocol) or {}).get("by_group")]
  if not curves:
    return None
  series = {}
  for metric in _GROUP_METRICS:
    sizes = sorted({size for curve in curves for size in curve[metric]["group"]})
    means, spreads = [], []
    for size in sizes:
      values = [curve[metric]["mean"][curve[metric]["group"].index(size)]
                for curve in curves if size in curve[metric]["group"]]
      mean, spread, count = mean_and_spread(values)
      if count == 1:
        curve = next(c for c in curves if size in c[metric]["group"])
        spread = curve[metric]["stderr"][curve[metric]["group"].index(size)]
      means.append(mean)
      spreads.append(spread)
    series[metric] = {"group": sizes, "mean": means, "stderr": spreads}
  return series


@dataclasses.dataclass
class GroupIntervals:
  """The interval summaries of a sweep's groups.

  summaries: group -> evaluate.stats.paired.summarise_run's dict (groups with per-image results);
  errors: group -> why it has none (no finished member, no per-image file, seeds that cannot
  be pooled); incomparable: the groups of `errors` whose seeds were evaluated on different
  images or under different protocol options; runs: group -> its evaluate.stats.paired.Run (for
  paired comparisons).
  """
  summaries: dict[str, dict[str, Any]]
  errors: dict[str, str]
  runs: dict[str, paired.Run]
  incomparable: set[str] = dataclasses.field(default_factory=set)


def group_intervals(workdir: str, results: Sequence[MemberResult], *,
                    replicates: int = bootstrap.DEFAULT_REPLICATES, seed: int = 0,
                    confidence: float = bootstrap.DEFAULT_CONFIDENCE) -> GroupIntervals:
  """Every group's means over its finished, evaluated seeds with intervals (module
  docstring)."""
  out = GroupIntervals({}, {}, {})
  for group, members in group_results(results).items():
    done = [r for r in members if r.state == DONE and r.report]
    if not done:
      out.errors[group] = "no finished, evaluated member"
      continue
    directories = [member_dir(workdir, r.member) for r in done]
    missing = [os.path.basename(d) for d in directories
               if not os.path.exists(per_image.find(d))]
    if missing:
      out.errors[group] = (f"no per-image results in {', '.join(missing)} (evaluated before "
                           "per_image.npz existed)")
      continue
    try:
      run = paired.load_run(group, directories, [r.member.seed for r in done])
      out.summaries[group] = paired.summarise_run(run, replicates=replicates, seed=seed,
                                                  confidence=confidence, by_group=True)
      out.runs[group] = run
    except paired.IncomparableRunsError as error:
      out.errors[group] = f"its seeds cannot be pooled: {error}"
      out.incomparable.add(group)
    except per_image.PerImageFileError as error:
      out.errors[group] = str(error)
  return out


def baseline_comparison(intervals: GroupIntervals, baseline: str, **options) -> dict[str, Any]:
  """evaluate.stats.paired.compare_runs of every group with interval summaries against `baseline`;
  the groups left out (no finished member, no per-image file) are listed in "left_out".

  Raises:
    ValueError: the baseline has no per-image results (the reason named);
      IncomparableRunsError: a group that cannot be paired with it, or whose seeds cannot be
      pooled (different images or protocol options).
  """
  if intervals.incomparable:
    raise paired.IncomparableRunsError("; ".join(
        f"member {group!r}: {intervals.errors[group]}" for group in intervals.incomparable))
  if baseline not in intervals.runs:
    reason = intervals.errors.get(baseline, "not a group of this sweep")
    raise ValueError(f"--baseline {baseline!r}: no paired comparison possible: {reason}")
  comparison = paired.compare_runs(list(intervals.runs.values()), baseline=baseline, **options)
  comparison["left_out"] = dict(intervals.errors)
  return comparison


def _cell_interval(value: Optional[Mapping[str, Any]]) -> str:
  if not value:
    return "n/a"
  return paired_tables.format_interval(value["mean"], value["ci_low"], value["ci_high"])


def _accuracy_table(groups, intervals: Optional[GroupIntervals], confidence: str) -> list[str]:
  lines = [f"| member | seeds done | test accuracy (± sd over seeds) | untransformed accuracy "
           f"[{confidence}] | images |", "|---|---|---|---|---|"]
  for group, members in groups.items():
    done = [r for r in members if r.state == DONE]
    summary = intervals.summaries.get(group) if intervals else None
    if summary:
      clean, images = _cell_interval(summary[paired.CLEAN]), str(summary["n_images"])
    else:
      values = [r.report["clean_accuracy"]["mean"] for r in done if r.report]
      clean, images = _format(*mean_and_spread(values)[:2]), "n/a"
    lines.append(f"| {_marked(group, summary)} | {len(done)}/{len(members)} | "
                 f"{_format(*mean_and_spread([r.test_accuracy for r in done])[:2])} | "
                 f"{clean} | {images} |")
  return lines


def _marked(group: str, summary) -> str:
  return group if summary else f"{group} †"


def _protocol_table(protocol: str, groups, intervals: Optional[GroupIntervals]) -> list[str]:
  header = ["member"] + [title for _, title in SUMMARY_METRICS] + ["max \\|logit change\\|"]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for group, members in groups.items():
    entries = [r.report["protocols"][protocol] for r in members
               if r.state == DONE and r.report and protocol in r.report["protocols"]]
    if not entries:
      continue
    summary = ((intervals.summaries.get(group) or {}).get("protocols", {}).get(protocol)
               if intervals else None)
    changes = [entry.get("max_logit_change") for entry in entries]
    cells = [_marked(group, summary)]
    for metric, _ in SUMMARY_METRICS:
      # (an attack entry, evaluate/attack.py, has no pair metrics or consistency)
      values = [(entry["metrics"].get(metric) or {}).get("mean") for entry in entries]
      if metric in PAIR_METRICS and values and all(
          is_float_rounding_zero(v, c) for v, c in zip(values, changes)):
        cells.append(_format_zero_aware(values, changes))
      elif summary:
        cells.append(_cell_interval(summary["metrics"].get(metric)))
      else:
        cells.append(_format(*mean_and_spread(values)[:2]))
    known = [c for c in changes if c is not None]
    cells.append(f"{max(known):.2e}" if known else "n/a")
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def markdown_summary(results: Sequence[MemberResult], plot_files: Sequence[str],
                     title: str, intervals: Optional[GroupIntervals] = None,
                     comparison: Optional[Mapping[str, Any]] = None,
                     confidence: float = bootstrap.DEFAULT_CONFIDENCE) -> str:
  """summary.md (module docstring): the groups' accuracies, one table per protocol (mean
  [interval] over seeds and images), the differences against the baseline, failures,
  missing members, plots."""
  protocols = _protocol_names(results)
  groups = group_results(results)
  level = f"{confidence:.0%}"
  counts = {}
  for result in results:
    counts[result.state] = counts.get(result.state, 0) + 1
  lines = [f"# {title}", "",
           f"{len(results)} runs in {len(groups)} members (groups of seeds): "
           + ", ".join(f"{count} {state}" for state, count in counts.items()) + ".", "",
           f"Per member: mean over the seeds that finished and the test images they share "
           f"[{level} interval, hierarchical bootstrap over seeds and images: "
           f"evaluate/stats/bootstrap.py]. Invariance metrics: the protocol's summary number; for "
           f"protocols with several sizes (embed_*) each image's equal-weight mean over sizes "
           f"(evaluate/metrics.py, POOLING), with the per-size values in the plots. MAC: mean "
           f"absolute change of the first frame's top-class probability. Worst case and "
           f"stable: over the grid points of each image (sampled protocols: over the drawn "
           f"points, an upper bound). Max \\|logit change\\|: the max over seeds and "
           f"images, not bootstrapped; a 0 is written \"0 up to float rounding (max \\|logit "
           f"change\\| = ...)\" when no logit moved by more than float rounding. Test "
           f"accuracy: the whole test set, mean ± standard deviation over seeds.", ""]
  marked = {g: e for g, e in (intervals.errors.items() if intervals else ())
            if any(r.state == DONE for r in groups.get(g, ()))}
  if marked or intervals is None:
    lines += ["† no interval: mean ± standard deviation over seeds (no ± with one seed)"
              + (": " + "; ".join(f"`{g}`: {e}" for g, e in marked.items()) if marked
                 else "") + ".", ""]
  lines += ["## Accuracy", ""] + _accuracy_table(groups, intervals, level)
  sampled = {protocol for protocol in protocols for r in results
             if r.report and (r.report["protocols"].get(protocol) or {}).get("sampled")}
  for protocol in protocols:
    kind = next(r.report["protocols"][protocol]["type"] for r in results
                if r.report and protocol in r.report["protocols"])
    subsets = sorted({protocol_image_count(r.report, protocol) for r in results
                      if r.report and protocol in r.report["protocols"]
                      and protocol_image_count(r.report, protocol) < r.report["num_images"]})
    images = (f", on {'/'.join(map(str, subsets))} of each evaluation's images (its "
              f"num_images)" if subsets else "")
    lines += ["", f"## `{protocol}` ({kind}{', sampled' if protocol in sampled else ''}"
              f"{images})", ""] + _protocol_table(protocol, groups, intervals)
  if comparison:
    lines += ["", f"## Differences against `{comparison['baseline']}`", "",
              f"Each member minus `{comparison['baseline']}` [{level} interval: "
              f"{comparison['method']}]; **bold** where the interval excludes 0 "
              f"(distinguishable); otherwise indistinguishable on this evidence. Every value "
              f"and the per-size differences: paired.md, paired.json."
              + paired_tables.multiplicity_note(comparison), ""]
    lines += paired_tables.difference_rows(comparison, SUMMARY_METRICS)
  failed = [r for r in results if r.state == FAILED]
  if failed:
    lines += ["", "## Failed members", ""]
    lines += [f"- {r.member.index} `{r.member.name}`: {r.error} (traceback in "
              f"`{r.member.name}/sweep_member.json`)" for r in failed]
  unfinished = [r for r in results if r.state not in (DONE, FAILED)]
  if unfinished:
    lines += ["", "## Members without results", ""]
    lines += [f"- {r.member.index} `{r.member.name}`: {r.state}" for r in unfinished]
  if plot_files:
    lines += ["", "## Plots", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})"
                                     for p in plot_files]
  return "\n".join(lines) + "\n"


def _spread_metrics(members: Sequence[MemberResult], protocol: Optional[str]
                    ) -> dict[str, dict[str, Optional[float]]]:
  """metric -> {"mean", "stderr"}: mean and standard deviation over the finished seeds of the
  protocol's summary numbers (protocol None: the untransformed accuracy, under "accuracy"),
  for groups without interval summaries; the plots draw "stderr" as ± it."""
  reports = [r.report for r in members if r.state == DONE and r.report]
  if protocol is None:
    mean, spread, _ = mean_and_spread([report["clean_accuracy"]["mean"] for report in reports])
    return {"accuracy": {"mean": mean, "stderr": spread}}
  entries = [report["protocols"][protocol] for report in reports
             if protocol in report["protocols"]]
  out = {}
  for metric, _ in SUMMARY_METRICS:
    mean, spread, _ = mean_and_spread([entry["metrics"].get(metric, {}).get("mean")
                                       for entry in entries])
    if mean is not None:
      out[metric] = {"mean": mean, "stderr": spread}
  return out


def plot_sweep(workdir: str, results: Sequence[MemberResult],
               intervals: Optional[GroupIntervals] = None,
               comparison: Optional[Mapping[str, Any]] = None,
               confidence: float = bootstrap.DEFAULT_CONFIDENCE) -> list[str]:
  """The sweep's PNGs (module docstring); returns their paths.

  Groups with interval summaries (intervals.summaries) are drawn with their intervals as
  error bars; the others (marked †) with ± the standard deviation over seeds (with one seed,
  per size, the standard error over images).
  """
  if not plots.available():
    return []  # matplotlib is not installed: summary.csv and summary.md only
  groups = group_results(results)
  summaries = intervals.summaries if intervals else {}
  fallback = [group for group, members in groups.items() if group not in summaries
              and any(r.state == DONE and r.report for r in members)]
  bars = interval_plots.interval_label(confidence) if summaries else ""
  if fallback:
    bars += ("; " if bars else "error bars: ") + "†: ± sd over seeds (no per-image files)"
  curve_bars = bars + (" or, with one seed, ± standard error over images" if fallback else "")
  protocols = _protocol_names(results)
  paths = []
  for protocol in protocols:
    series = []
    for group, members in groups.items():
      summary = (summaries.get(group) or {}).get("protocols", {}).get(protocol)
      if summary:
        curve = interval_plots.size_series(group, summary)
      else:
        curve = seed_curve([r for r in members if r.state == DONE], protocol)
        curve = dict(label=f"{group} †", **curve) if curve else None
      if curve:
        series.append(curve)
    if series:
      paths.append(comparison_plots.plot_sensitivity_vs_size(
          series, os.path.join(workdir, f"sensitivity_vs_size_{protocol}.png"),
          title=f"{protocol}: sensitivity to one-pixel moves versus embedding size, per "
                f"member ({curve_bars})"))
  series = [interval_plots.metric_series(group, summary)
            for group, summary in summaries.items()]
  for group in fallback:
    series.append({"label": f"{group} †",
                   "clean_accuracy": _spread_metrics(groups[group], None)["accuracy"],
                   "metrics": {protocol: _spread_metrics(groups[group], protocol)
                               for protocol in protocols}})
  if series:
    labels = interval_plots.protocol_labels(summaries)
    paths.append(comparison_plots.plot_protocol_bars(
        series, os.path.join(workdir, METRICS_PNG),
        clean_accuracy={entry["label"]: entry["clean_accuracy"]["mean"] for entry in series},
        protocol_labels=labels, title=f"metrics per protocol, per member ({bars})"))
    paths.append(comparison_plots.plot_invariance_vs_accuracy(
        series, os.path.join(workdir, INVARIANCE_PNG),
        title=f"invariance versus accuracy, per member ({bars}; lower right is better)"))
  accuracies = {group: [r.test_accuracy for r in members if r.state == DONE
                        and r.test_accuracy is not None]
                for group, members in groups.items()}
  if any(accuracies.values()):
    paths.append(comparison_plots.plot_accuracy_per_group(
        accuracies, os.path.join(workdir, ACCURACY_PNG),
        title="final test accuracy per member (bar: mean over seeds, dots: seeds)"))
  if comparison:
    paths += interval_plots.plot_paired_differences(comparison, workdir)
    paths += interval_plots.plot_paired_by_size(comparison, workdir)
  return paths


def collect_sweep(workdir: str, members: Sequence[SweepMember], title: str = "Sweep summary",
                  *, baseline: Optional[str] = None,
                  replicates: int = bootstrap.DEFAULT_REPLICATES, bootstrap_seed: int = 0,
                  confidence: float = bootstrap.DEFAULT_CONFIDENCE,
                  pair_seeds: bool = False) -> dict[str, Any]:
  """Reads every member of the sweep in `workdir` and writes the summary files and plots.

  Args:
    baseline: a group name: also write every other group's paired difference against it
      (paired.json, paired.md).
    replicates, bootstrap_seed, confidence: the bootstrap (evaluate.stats.bootstrap).
    pair_seeds: pair each group's seeds with the baseline's by seed number (module
      docstring); needs a baseline.
  Returns:
    {"csv", "markdown", "groups_json", "paired": {"json", "markdown"} or None,
     "png": [paths], "results": [MemberResult]}.
  Raises:
    ValueError: a baseline that is not a group with per-image results, pair_seeds without a
      baseline; evaluate.stats.paired.IncomparableRunsError: a group that cannot be paired
      with the baseline, with pair_seeds also one whose seed numbers differ from the
      baseline's (raised before anything is written).
  """
  if pair_seeds and not baseline:
    raise ValueError("--pair_seeds pairs the seeds of the comparison against --baseline: "
                     "give --baseline")
  results = [read_member(workdir, member) for member in members]
  options = dict(replicates=replicates, seed=bootstrap_seed, confidence=confidence)
  intervals = group_intervals(workdir, results, **options)
  comparison = (baseline_comparison(intervals, baseline, pair_seeds=pair_seeds, **options)
                if baseline else None)
  os.makedirs(workdir, exist_ok=True)
  csv_path = write_summary_csv(os.path.join(workdir, SUMMARY_CSV), results)
  groups_path = os.path.join(workdir, SUMMARY_GROUPS_JSON)
  atomic_write_text(groups_path, json.dumps({
      "confidence": confidence, "bootstrap_samples": replicates,
      "bootstrap_seed": bootstrap_seed,
      "groups": {group: intervals.summaries.get(group)
                 or {"error": intervals.errors.get(group)}
                 for group in group_results(results)}}, indent=1) + "\n")
  pictures = plot_sweep(workdir, results, intervals, comparison, confidence)
  markdown_path = os.path.join(workdir, SUMMARY_MD)
  atomic_write_text(markdown_path, markdown_summary(results, pictures, title, intervals,
                                                    comparison, confidence))
  paired_files = paired_tables.write_paired(workdir, comparison) if comparison else None
  return {"csv": csv_path, "markdown": markdown_path, "groups_json": groups_path,
          "paired": paired_files, "png": pictures, "results": results}
