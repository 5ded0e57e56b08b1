"""Figures that compare runs or sweep members (`python -m evaluate.compare`, `sweep.py
--collect`, and one evaluation's report): sensitivity versus embedding size, metrics per
protocol, invariance versus accuracy, paired differences from a baseline, accuracy per member.
Drawn with the kit of evaluate.plots (matplotlib imported when the first figure is drawn).

Data shapes used below (Metric: evaluate.plots):
  Sweep series: dict(label=str, p_top1_change=SweepMetric, mac=SweepMetric,
    accuracy=SweepMetric) (the "by_group" of an eval.json protocol entry, plus a label), with
    SweepMetric = {"group": [s1, ...], "mean": [...], "stderr": [...]}, or with "ci_low" and
    "ci_high" lists instead of "stderr" (None where undefined).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from evaluate.plots import (MaxNLocator, as_floats, error_bars, new_figure, save,
                            suptitle)

# Sweeps over at most this many sizes get one x tick per evaluated size.
_MAX_LABELLED_TICKS = 12


def _sweep_metrics(values: Mapping[str, Any]) -> list[dict[str, Any]]:
  """A SweepMetric (module docstring) as one Metric per group."""
  keys = [key for key in ("mean", "stderr", "ci_low", "ci_high") if key in values]
  return [dict(zip(keys, row)) for row in zip(*[values[key] for key in keys])]


def plot_sensitivity_vs_size(series: Sequence[Mapping[str, Any]], path: str, *,
                             title: str, group_label: str = "embedding size s (pixels)") -> str:
  """P(top-1 change), MAC and accuracy versus embedding size, one line per series.

  The x-axis of Azulay & Weiss figures 6, 10 and 11; error bars are the series' standard
  errors or intervals (module docstring; the title says which).

  Args:
    series: sweep series (module docstring); each gets one line in every panel.
    path: the PNG written.
    title: the figure title.
    group_label: the x-axis label.
  Returns:
    `path`.
  """
  panels = (("p_top1_change", "P(top-1 change), one-pixel move"),
            ("mac", "MAC: mean |p1(c) - p2(c)|"),
            ("accuracy", "accuracy (mean over positions)"))
  figure = new_figure(5.0 * len(panels), 4.0)
  axes = figure.subplots(1, len(panels))
  for axis, (key, label) in zip(axes, panels):
    for index, entry in enumerate(series):
      if not entry.get(key):
        continue
      axis.errorbar(as_floats(entry[key]["group"]), as_floats(entry[key]["mean"]),
                    yerr=error_bars(_sweep_metrics(entry[key])), marker="o", markersize=4,
                    capsize=3, color=f"C{index}", label=entry["label"])
    axis.set_xlabel(group_label)
    groups = sorted({g for entry in series if entry.get(key) for g in entry[key]["group"]})
    if 1 < len(groups) <= _MAX_LABELLED_TICKS:
      axis.set_xticks(groups)  # tick exactly the evaluated sizes
    else:
      axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_ylabel(label)
    axis.set_ylim(bottom=0.0, top=1.0 if key == "accuracy" else None)
    axis.grid(alpha=0.3)
  axes[0].legend(fontsize="small")
  suptitle(figure, title)
  return save(figure, path)


def plot_protocol_bars(series: Sequence[Mapping[str, Any]], path: str, *, title: str,
                       clean_accuracy: Optional[Mapping[str, float]] = None,
                       protocol_labels: Optional[Mapping[str, str]] = None) -> str:
  """Accuracy, worst-case accuracy, P(top-1 change) and MAC per protocol, as grouped bars.

  Args:
    series: dicts label=str, metrics={protocol name: {metric name: Metric}}; metric names
      'accuracy', 'worst_case_accuracy', 'p_top1_change', 'mac' (missing ones are skipped).
      One colour per series (one series per evaluated workdir).
    path: the PNG written.
    title: the figure title.
    clean_accuracy: label -> accuracy on the untransformed images, drawn as a dashed line.
    protocol_labels: protocol name -> its tick label (default: the name).
  Returns:
    `path`.
  """
  protocols = []
  for entry in series:
    protocols += [name for name in entry["metrics"] if name not in protocols]
  panels = (("accuracy", "accuracy (mean over grid)"),
            ("worst_case_accuracy", "worst-case accuracy over grid"),
            ("p_top1_change", "P(top-1 change), one-pixel move"),
            ("mac", "MAC"))
  figure = new_figure(max(8.0, 1.2 * len(protocols) * 2 + 2), 7.0)
  axes = figure.subplots(2, 2).ravel()
  positions = np.arange(len(protocols))
  width = 0.8 / max(len(series), 1)
  colors = [f"C{i}" for i in range(len(series))]
  for axis, (key, label) in zip(axes, panels):
    for index, entry in enumerate(series):
      metrics = entry["metrics"]
      values = [metrics.get(p, {}).get(key) for p in protocols]
      mean = [(value or {}).get("mean") for value in values]
      axis.bar(positions + (index - (len(series) - 1) / 2) * width, as_floats(mean), width,
               yerr=error_bars(values), capsize=3, color=colors[index], label=entry["label"])
      if clean_accuracy and key in ("accuracy", "worst_case_accuracy"):
        value = clean_accuracy.get(entry["label"])
        if value is not None:
          axis.axhline(value, color=colors[index], linestyle="--", linewidth=1,
                       label=f"{entry['label']}: untransformed")
    axis.set_xticks(positions, [(protocol_labels or {}).get(p, p) for p in protocols],
                    rotation=20, ha="right")
    axis.set_ylabel(label)
    axis.set_ylim(0.0, 1.0 if "accuracy" in key else None)
    axis.grid(axis="y", alpha=0.3)
  handles, labels = axes[0].get_legend_handles_labels()
  figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4),
                fontsize="small")
  suptitle(figure, title)
  return save(figure, path)


def plot_invariance_vs_accuracy(series: Sequence[Mapping[str, Any]], path: str, *,
                                title: str) -> str:
  """What each run's invariance costs in accuracy: one panel per protocol, one point per run
  at (accuracy on the untransformed images, P(top-1 change) under a one-pixel move of that
  protocol), with error bars on both axes (standard errors or intervals, module docstring).
  Down and to the right is better.

  Args:
    series: dicts label=str, clean_accuracy=Metric, metrics={protocol name: {metric name:
      Metric}} (the 'p_top1_change' of each protocol is drawn; protocols without it are
      skipped). One colour per run, the same in every panel.
    path: the PNG written.
    title: the figure title.
  Returns:
    `path`.
  """
  protocols = []
  for entry in series:
    protocols += [name for name, metrics in entry["metrics"].items()
                  if "p_top1_change" in metrics and name not in protocols]
  columns = min(max(len(protocols), 1), 3)
  rows = max(math.ceil(len(protocols) / columns), 1)
  figure = new_figure(3.6 * columns + 1.5, 3.2 * rows + 0.8)
  axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
  for axis, protocol in zip(axes, protocols):
    for index, entry in enumerate(series):
      change = entry["metrics"].get(protocol, {}).get("p_top1_change")
      if not change:
        continue
      accuracy = entry["clean_accuracy"]
      x, y = as_floats([accuracy.get("mean"), change.get("mean")])
      axis.errorbar([x], [y], xerr=error_bars([accuracy]), yerr=error_bars([change]), fmt="o",
                    capsize=3, color=f"C{index}", label=entry["label"])
    axis.set_title(protocol, fontsize="medium")
    axis.set_xlabel("accuracy, untransformed images")
    axis.set_ylabel("P(top-1 change)")
    axis.set_ylim(bottom=0.0)
    axis.grid(alpha=0.3)
  for axis in axes[len(protocols):]:
    axis.set_visible(False)
  handles, labels = axes[0].get_legend_handles_labels()
  figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5),
                fontsize="small")
  suptitle(figure, title)
  return save(figure, path)


def plot_paired_differences(panels: Sequence[Mapping[str, Any]], path: str, *, title: str,
                            scale: float = 100.0, unit: str = "percentage points",
                            note: str = "") -> str:
  """Paired differences against a baseline as a forest plot: one panel per compared quantity
  (e.g. the accuracy on untransformed images, then one protocol's metric per panel), one row
  per compared run: its difference from the baseline (dot) with its interval (bar), a line at
  0, and the numbers beside the dot. Filled dot: the interval excludes 0 (distinguishable);
  hollow dot: it holds 0 (indistinguishable on this evidence, not ranked).

  Args:
    panels: dicts title=str (e.g. "circular: P(top-1 change)"), rows=[dict(label=str,
      diff=float, ci_low=float, ci_high=float, distinguishable=bool) or with diff None (not
      compared: left empty)]. Every panel has the same rows in the same order (from the first
      panel's labels; one colour per label, the same in every panel).
    path: the PNG written.
    title: the figure title (what is compared, what the bars are).
    scale: values are multiplied by this for display (100: fractions as percentage points).
    unit: the unit of the scaled values, for the x-axis labels.
    note: a line under the panels (e.g. the number of seeds and images).
  Returns:
    `path`.
  """
  labels = []
  for panel in panels:
    labels += [row["label"] for row in panel["rows"] if row["label"] not in labels]
  columns = min(max(len(panels), 1), 3)
  rows = max(math.ceil(len(panels) / columns), 1)
  figure = new_figure(4.6 * columns + 1.0, (0.42 * len(labels) + 1.5) * rows + 1.3)
  axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
  positions = {label: len(labels) - 1 - i for i, label in enumerate(labels)}  # first on top
  for axis, panel in zip(axes, panels):
    edges = [0.0]
    for row in panel["rows"]:
      if row.get("diff") is None:
        continue
      y = positions[row["label"]]
      diff, low, high = (scale * float(row[key]) for key in ("diff", "ci_low", "ci_high"))
      color = f"C{labels.index(row['label']) % 10}"
      axis.errorbar([diff], [y], xerr=[[diff - low], [high - diff]], fmt="o", capsize=4,
                    markersize=7, color=color,
                    markerfacecolor=color if row["distinguishable"] else "white")
      axis.annotate(f"{diff:+.2f} [{low:+.2f}, {high:+.2f}]", (diff, y), xytext=(0, 7),
                    textcoords="offset points", ha="center", va="bottom", fontsize="x-small")
      edges += [low, high]
    axis.axvline(0.0, color="black", linewidth=1)
    spread = max(edges) - min(edges)
    if spread < 1e-6 * scale:  # every difference 0 (e.g. identical runs): a readable axis
      axis.set_xlim(-scale * 0.01, scale * 0.01)
    else:
      axis.set_xlim(min(edges) - 0.12 * spread, max(edges) + 0.12 * spread)
    axis.set_ylim(-0.7, len(labels) - 0.3)
    axis.set_yticks([positions[label] for label in labels], labels)
    axis.set_title(panel["title"], fontsize="medium")
    axis.set_xlabel(f"difference from baseline ({unit})")
    axis.grid(axis="x", alpha=0.3)
  for axis in axes[len(panels):]:
    axis.set_visible(False)
  from matplotlib.lines import Line2D  # pylint: disable=g-import-not-at-top
  handles = [Line2D([], [], marker="o", linestyle="", color="gray", markersize=7,
                    label="interval excludes 0 (distinguishable)"),
             Line2D([], [], marker="o", linestyle="", color="gray", markerfacecolor="white",
                    markersize=7, label="interval holds 0 (indistinguishable, not ranked)")]
  figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small",
                title=note or None, title_fontsize="small")
  suptitle(figure, title)
  return save(figure, path)


def plot_accuracy_per_group(accuracies: Mapping[str, Sequence[float]], path: str, *,
                            title: str) -> str:
  """One bar per group of runs (its mean), with one dot per run (e.g. per seed).

  Args:
    accuracies: group label -> the accuracies of its runs (an empty list draws no bar).
    path: the PNG written.
    title: the figure title.
  Returns:
    `path`.
  """
  labels = list(accuracies)
  figure = new_figure(max(6.0, 0.9 * len(labels) + 2.0), 4.5)
  axis = figure.subplots()
  for position, label in enumerate(labels):
    values = np.asarray(accuracies[label], np.float64)
    if values.size == 0:
      continue
    axis.bar(position, values.mean(), 0.7, color=f"C{position % 10}", alpha=0.6)
    axis.plot(np.full(values.shape, position), values, "o", color="black", markersize=4)
    axis.annotate(f"{values.mean():.3f}", (position, values.mean()), ha="center",
                  va="bottom", fontsize="small")
  axis.set_xticks(np.arange(len(labels)), labels, rotation=25, ha="right", fontsize="small")
  axis.set_ylabel("test accuracy")
  axis.set_ylim(0.0, 1.0)
  axis.grid(axis="y", alpha=0.3)
  suptitle(figure, title)
  return save(figure, path)


def plot_differences_by_size(panels: Sequence[Mapping[str, Any]], path: str, *, title: str,
                             scale: float = 100.0, unit: str = "percentage points",
                             note: str = "") -> str:
  """Paired differences against a baseline versus the embedded size: one panel per metric, one
  curve per compared run, its difference (dot) with its interval (bar) at each size, a line at
  0. Filled dot: the interval excludes 0; hollow: it holds 0 (not ranked).

  Args:
    panels: dicts title=str, curves=[dict(label=str, sizes=[int], diff=[float or None],
      ci_low=[...], ci_high=[...], distinguishable=[bool])]; a None diff is left out.
    path: the PNG written. title: the figure title. note: the legend's title (e.g. the
      number of images and seeds).
    scale, unit: values are multiplied by `scale` for display, in `unit`.
  Returns:
    `path`.
  """
  figure = new_figure(4.8 * max(len(panels), 1) + 0.6, 4.4)
  axes = np.atleast_1d(figure.subplots(1, max(len(panels), 1), squeeze=False).ravel())
  for axis, panel in zip(axes, panels):
    for index, curve in enumerate(panel["curves"]):
      _difference_curve(axis, curve, index, len(panel["curves"]), scale)
    axis.axhline(0.0, color="black", linewidth=1)
    axis.set_title(panel["title"], fontsize="small")
    axis.set_xlabel("embedded size (pixels)")
    sizes = sorted({size for curve in panel["curves"] for size in curve["sizes"]})
    if sizes:
      axis.set_xticks(sizes)
    axis.set_ylabel(f"difference ({unit})")
  axes[0].legend(fontsize="x-small", title=note or None, title_fontsize="x-small")
  suptitle(figure, title)
  return save(figure, path)


def _difference_curve(axis, curve: Mapping[str, Any], index: int, count: int,
                      scale: float) -> None:
  """One run's differences per size on `axis`, dodged sideways by its index of `count`."""
  color = f"C{index % 10}"
  shift = 0.35 * (index - (count - 1) / 2)
  points = [(size + shift, scale * diff, scale * low, scale * high, sure) for size, diff, low,
            high, sure in zip(curve["sizes"], curve["diff"], curve["ci_low"], curve["ci_high"],
                              curve["distinguishable"]) if diff is not None]
  if not points:
    return
  x, y, low, high, sure = (np.asarray(column) for column in zip(*points))
  axis.plot(x, y, color=color, linewidth=1, label=curve["label"])
  for xi, yi, lo, hi, filled in zip(x, y, low, high, sure):
    axis.errorbar([xi], [yi], yerr=[[yi - lo], [hi - yi]], fmt="o", capsize=3, markersize=5,
                  color=color, markerfacecolor=color if filled else "white")
