"""Interval summaries and paired comparisons (evaluate.stats.paired's dicts) as the comparison
figures' data, shared by `python -m evaluate.compare` and `sweep.py --collect`.

Turns evaluate.stats.paired.summarise_run dicts (a run's means over seeds and images with their
bootstrap intervals) into the series evaluate.plots.comparison draws, with the intervals as
error bars, and has the paired differences of a comparison against a baseline (compare_runs
with a baseline) as one forest plot per metric, a panel per protocol:

  paired_<metric>.png   for metric in PAIRED_PLOT_METRICS: the accuracy on untransformed
                        images, then per protocol that metric, each run minus the baseline
                        (dot) with its interval (bar) and a line at 0, in percentage points.
  paired_by_size_<protocol>.png   for each protocol with sizes (embed_*): SIZE_METRICS per
                        size, each run minus the baseline with its interval, one curve per
                        run (the paper's figure 10 as paired differences).

Nothing here computes a statistic: the numbers are the dicts'.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from evaluate import paired_tables
from evaluate.plots import comparison as comparison_plots
from evaluate.stats import paired

# Metrics of a sensitivity-versus-size plot (its panels).
SIZE_METRICS = ("p_top1_change", "mac", "accuracy")
# Metrics with a paired-difference figure, paired_<metric>.png; the first is the headline.
PAIRED_PLOT_METRICS = ("p_top1_change", "accuracy", "mac")
# Which way is better, for the panel titles.
_BETTER = {"accuracy": "higher", "worst_case_accuracy": "higher", "consistency": "higher",
           "stable_prediction": "higher", "p_top1_change": "lower", "mac": "lower"}


def interval_label(confidence: float) -> str:
  """What the error bars of an interval summary are, for titles."""
  return f"error bars: {confidence:.0%} interval over seeds and test images (bootstrap)"


def size_series(label: str, protocol: Mapping[str, Any]) -> Optional[dict[str, Any]]:
  """A "sweep series" of evaluate.plots.comparison (per size: mean, ci_low, ci_high) of one
  protocol of a summarise_run(..., by_group=True) dict; None if it has no per-size values."""
  grouped = protocol.get("by_group")
  if not grouped:
    return None
  series = {"label": label}
  for metric in SIZE_METRICS:
    entries = grouped.get(metric) or []
    kept = [(group, entry) for group, entry in zip(grouped["groups"], entries) if entry]
    series[metric] = {"group": [group for group, _ in kept],
                      "mean": [entry["mean"] for _, entry in kept],
                      "ci_low": [entry["ci_low"] for _, entry in kept],
                      "ci_high": [entry["ci_high"] for _, entry in kept]}
  return series


def metric_series(label: str, summary: Mapping[str, Any]) -> dict[str, Any]:
  """dict(label, clean_accuracy, metrics={protocol: {metric: {mean, ci_low, ci_high}}}) of a
  summarise_run dict: what comparison_plots.plot_protocol_bars and
  plot_invariance_vs_accuracy take."""
  return {"label": label, "clean_accuracy": summary[paired.CLEAN],
          "metrics": {name: entry["metrics"] for name, entry in summary["protocols"].items()}}


def protocol_labels(summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
  """protocol name -> tick label, with its number of images where it ran on fewer than the
  runs' shared images (a protocol with num_images)."""
  out = {}
  for summary in summaries.values():
    for name, entry in summary["protocols"].items():
      out.setdefault(name, paired_tables.protocol_title(name, entry.get("n_images"),
                                                 summary["n_images"]))
  return out


def _panel(title: str, pairs: Sequence[Mapping[str, Any]], pick) -> dict[str, Any]:
  rows = []
  for pair in pairs:
    entry = pick(pair)
    rows.append({"label": pair["b"], **(entry or {"diff": None})})
  return {"title": title, "rows": rows}


def plot_paired_differences(comparison: Mapping[str, Any], out_dir: str,
                            metrics: Sequence[str] = PAIRED_PLOT_METRICS) -> list[str]:
  """paired_<metric>.png (module docstring) of a compare_runs dict with a baseline; returns
  the paths ([] without a baseline or pairs)."""
  baseline, pairs = comparison.get("baseline"), comparison.get("pairs") or []
  if baseline is None or not pairs:
    return []
  names = []
  for pair in pairs:
    names += [name for name in pair["protocols"] if name not in names]
  level = f"{comparison['confidence']:.0%}"
  images = sorted({pair["n_images"] for pair in pairs})
  seeds = ", ".join(f"{label} {run['n_seeds']}" for label, run in comparison["runs"].items())
  subsets = any(protocol.get("n_images", pair["n_images"]) != pair["n_images"]
                for pair in pairs for protocol in pair["protocols"].values())
  note = (f"{'/'.join(map(str, images))} shared test images"
          + (" (protocols on fewer: as in their titles)" if subsets else "")
          + f"; seeds: {seeds}")
  paths = []
  for metric in metrics:
    title_metric = paired_tables.METRIC_TITLES[metric]
    panels = [_panel("untransformed images: accuracy (higher is better)", pairs,
                     lambda pair: pair[paired.CLEAN])]
    for name in names:
      if not any(metric in (pair["protocols"].get(name) or {}).get("metrics", {})
                 for pair in pairs):
        continue  # a protocol without this metric (the shift attack has no pairs): no panel
      counts = {pair["protocols"][name].get("n_images") for pair in pairs
                if name in pair["protocols"]}
      shown = (paired_tables.protocol_title(name, counts.pop(), pairs[0]["n_images"])
               if len(counts) == 1 else name)
      panels.append(_panel(
          f"{shown}: {title_metric} ({_BETTER[metric]} is better)", pairs,
          lambda pair, name=name: (pair["protocols"].get(name) or {}).get(
              "metrics", {}).get(metric)))
    paths.append(comparison_plots.plot_paired_differences(
        panels, os.path.join(out_dir, f"paired_{metric}.png"), note=note,
        title=f"{title_metric}: each run minus `{baseline}` (dot) with its {level} interval "
              f"(bar: paired bootstrap over test images and seeds); filled: the interval "
              f"excludes 0"))
  return paths


def _size_curve(pair: Mapping[str, Any], protocol: str, metric: str) -> Optional[dict]:
  """One run's per-size differences of `metric` (None if the pair has no sizes there)."""
  grouped = (pair["protocols"].get(protocol) or {}).get("by_group")
  if not grouped or not grouped.get(metric):
    return None
  entries = grouped[metric]
  pick = lambda key: [None if e is None else e[key] for e in entries]  # noqa: E731
  return {"label": pair["b"], "sizes": grouped["groups"], "diff": pick("diff"),
          "ci_low": pick("ci_low"), "ci_high": pick("ci_high"),
          "distinguishable": [bool(e and e["distinguishable"]) for e in entries]}


def plot_paired_by_size(comparison: Mapping[str, Any], out_dir: str) -> list[str]:
  """paired_by_size_<protocol>.png (module docstring) of a compare_runs dict with a baseline,
  one per protocol with sizes; returns the paths ([] without a baseline or such protocols)."""
  baseline, pairs = comparison.get("baseline"), comparison.get("pairs") or []
  if baseline is None or not pairs:
    return []
  level = f"{comparison['confidence']:.0%}"
  paths = []
  for protocol in pairs[0]["protocols"]:
    panels = [{"title": f"{paired_tables.METRIC_TITLES[metric]} ({_BETTER[metric]} is better)",
               "curves": [c for c in (_size_curve(p, protocol, metric) for p in pairs) if c]}
              for metric in SIZE_METRICS]
    if not any(panel["curves"] for panel in panels):
      continue
    count = pairs[0]["protocols"][protocol].get("n_images")
    paths.append(comparison_plots.plot_differences_by_size(
        panels, os.path.join(out_dir, f"paired_by_size_{protocol}.png"),
        title=f"{protocol}: each run minus `{baseline}` per size, with its {level} interval "
              f"(paired bootstrap over test images and seeds); filled: the interval excludes 0",
        note=f"{count} test images" if count else ""))
  return paths
