"""Gathers a sweep's members into summary.csv, summary.md and plots in the sweep workdir.

Reads, per member directory: sweep_member.json (state, error), summary.json (test accuracy)
and eval/eval.json (invariance metrics); a member that is missing any of them is reported as
such, never guessed. Members that differ only by seed form a group; groups are summarised
by the mean over seeds and the standard deviation over seeds (or, with one seed, by the
standard error over the evaluated images).

Written into the sweep workdir:
  summary.csv: one row per member: index, name, group, seed, every setting, state, error,
    final test accuracy, and <protocol>/<metric> for every protocol and summary metric
    (pooled over sizes with equal weight, as in eval.json), and <protocol>/max_logit_change.
  summary.md: a table per group, the failed and missing members, the plots.
  sensitivity_vs_size_<protocol>.png: P(top-1 change), MAC and accuracy versus embedding size,
    one curve per group (protocols with a size sweep only).
  accuracy.png: final test accuracy per group (bar = mean, dots = seeds).
"""
from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from evaluate import plots
from evaluate.metrics import PAIR_METRICS
from evaluate.report import EVAL_JSON, SUMMARY_METRICS, is_float_rounding_zero
from runtime import run_files
from runtime.run_files import SUMMARY_FILE
from sweeps.runner import DONE, FAILED, member_dir, read_json_or_none, read_status, state_of
from sweeps.spec import SweepMember

SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
ACCURACY_PNG = "accuracy.png"
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
  with open(path, "w", newline="") as f:
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


def mean_and_spread(values: Sequence[Optional[float]]) -> tuple[Optional[float],
                                                                 Optional[float], int]:
  """(mean, standard deviation over seeds (ddof 1; None for fewer than 2), count) of the
  values that are present."""
  present = np.asarray([v for v in values if v is not None], np.float64)
  if present.size == 0:
    return None, None, 0
  spread = float(np.std(present, ddof=1)) if present.size > 1 else None
  return float(present.mean()), spread, int(present.size)


def _format(mean: Optional[float], spread: Optional[float]) -> str:
  if mean is None:
    return "n/a"
  return f"{mean:.4f}" + (f" ± {spread:.4f}" if spread is not None else "")


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


def markdown_summary(results: Sequence[MemberResult], plot_files: Sequence[str],
                     title: str) -> str:
  """summary.md: per-group table (mean ± std over seeds), failures, missing members, plots."""
  protocols = _protocol_names(results)
  groups = group_results(results)
  counts = {}
  for result in results:
    counts[result.state] = counts.get(result.state, 0) + 1
  lines = [f"# {title}", "",
           f"{len(results)} members in {len(groups)} groups: "
           + ", ".join(f"{count} {state}" for state, count in counts.items()) + ".", "",
           "Per group: mean over the seeds that finished ± standard deviation over seeds "
           "(no ± with one seed). Invariance metrics: the protocol's summary number in each "
           "member's eval.json; for protocols with several sizes (embed_*) the equal-weight "
           "mean over sizes (evaluate/metrics.py, POOLING), with the per-size values in the "
           "plots. MAC: mean absolute change of the first frame's top-class probability. "
           "Protocols evaluated on sampled pairs are marked (sampled): their worst case is an "
           "upper bound. A 0 is written \"0 up to float rounding (max \\|logit change\\| = "
           "...)\" when no logit moved by more than float rounding.", ""]
  sampled = {protocol for protocol in protocols for r in results
             if r.report and (r.report["protocols"].get(protocol) or {}).get("sampled")}
  header = ["group", "seeds done", "test accuracy"] + [
      f"{protocol}{' (sampled)' if protocol in sampled else ''}: "
      f"{dict(SUMMARY_METRICS)[metric]}" for protocol in protocols for metric in _GROUP_METRICS]
  lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for group, members in groups.items():
    done = [r for r in members if r.state == DONE]
    cells = [group, f"{len(done)}/{len(members)}",
             _format(*mean_and_spread([r.test_accuracy for r in done])[:2])]
    for protocol in protocols:
      for metric in _GROUP_METRICS:
        entries = [r.report["protocols"][protocol] for r in done
                   if r.report and protocol in r.report["protocols"]]
        values = [entry["metrics"][metric]["mean"] for entry in entries]
        changes = [entry.get("max_logit_change") for entry in entries]
        cells.append(_format_zero_aware(values, changes) if metric in PAIR_METRICS
                     else _format(*mean_and_spread(values)[:2]))
    lines.append("| " + " | ".join(cells) + " |")
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


def plot_sweep(workdir: str, results: Sequence[MemberResult]) -> list[str]:
  """The sweep's PNGs (module docstring); returns their paths."""
  if not plots.available():
    return []  # matplotlib is not installed: summary.csv and summary.md only
  groups = group_results(results)
  seeds = max(len(members) for members in groups.values())
  spread = ("± std over seeds" if seeds > 1 else "± standard error over images (one seed)")
  paths = []
  for protocol in _protocol_names(results):
    series = []
    for group, members in groups.items():
      curve = seed_curve([r for r in members if r.state == DONE], protocol)
      if curve:
        series.append(dict(label=group, **curve))
    if series:
      paths.append(plots.plot_sensitivity_vs_size(
          series, os.path.join(workdir, f"sensitivity_vs_size_{protocol}.png"),
          title=f"{protocol}: sensitivity to one-pixel moves versus embedding size, per "
                f"member ({spread})"))
  accuracies = {group: [r.test_accuracy for r in members if r.state == DONE
                        and r.test_accuracy is not None]
                for group, members in groups.items()}
  if any(accuracies.values()):
    paths.append(plots.plot_accuracy_per_group(
        accuracies, os.path.join(workdir, ACCURACY_PNG),
        title="final test accuracy per member (bar: mean over seeds, dots: seeds)"))
  return paths


def collect_sweep(workdir: str, members: Sequence[SweepMember],
                  title: str = "Sweep summary") -> dict[str, Any]:
  """Reads every member of the sweep in `workdir` and writes the summary files and plots.

  Returns:
    {"csv": path, "markdown": path, "png": [paths], "results": [MemberResult]}.
  """
  results = [read_member(workdir, member) for member in members]
  os.makedirs(workdir, exist_ok=True)
  csv_path = write_summary_csv(os.path.join(workdir, SUMMARY_CSV), results)
  pictures = plot_sweep(workdir, results)
  markdown_path = os.path.join(workdir, SUMMARY_MD)
  with open(markdown_path, "w") as f:
    f.write(markdown_summary(results, pictures, title))
  return {"csv": csv_path, "markdown": markdown_path, "png": pictures, "results": results}

