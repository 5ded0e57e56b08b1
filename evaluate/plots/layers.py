"""The layer analyses' figures (`python -m evaluate.layers`), drawn with the kit of
evaluate.plots (matplotlib Figure + Agg canvas; no pyplot state).

Layer entries are dicts with 'name' and metrics as {"mean", "stderr"} (or None), as written to
layers.json by the analyses.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from evaluate.plots import new_figure, save


def plot_by_depth(series: Sequence[dict[str, Any]], panels: Sequence[tuple[str, str]], path: str,
                  title: str, relative_depth: Optional[bool] = None) -> str:
  """Metrics versus depth, one curve per series (model), one panel per metric.

  Args:
    series: dict(label=str, layers=[layer entry, ...]) per model.
    panels: (metric key, y-axis label) per panel.
    relative_depth: x = layer index / (number of layers - 1) (for models of different
      depths); default: True for several series, else x = layer index labelled by name.
  """
  relative = len(series) > 1 if relative_depth is None else relative_depth
  figure = new_figure(max(7.0, 0.22 * max(len(s["layers"]) for s in series) + 4), 3.4 * len(panels))
  axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
  for axis, (key, label) in zip(axes, panels):
    for entry in series:
      layers = entry["layers"]
      x = np.arange(len(layers), dtype=float)
      if relative and len(layers) > 1:
        x /= len(layers) - 1
      mean = np.array([l[key]["mean"] if l.get(key) else np.nan for l in layers], float)
      err = np.array([l[key]["stderr"] if l.get(key) else np.nan for l in layers], float)
      err = np.nan_to_num(err)
      axis.errorbar(x, mean, yerr=err, marker="o", ms=3, capsize=2, label=entry["label"])
    axis.set_ylabel(label)
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    if relative:
      axis.set_xlabel("relative depth (layer index / last index)")
    else:
      names = [l["name"] for l in series[0]["layers"]]
      axis.set_xticks(np.arange(len(names)))
      axis.set_xticklabels(names, rotation=70, fontsize=7, ha="right")
    axis.legend(fontsize=8)
  figure.suptitle(title, fontsize=9)
  return save(figure, path)


def plot_feature_maps(images: np.ndarray, rows: Sequence[tuple[str, np.ndarray]], path: str,
                      column_titles: Sequence[str], title: str) -> str:
  """Figure 3: top row the (moved) input images (S, 32, 32, 3) uint8; then per layer one row of
  (S, H, W) maps with a shared colour scale."""
  count = images.shape[0]
  figure = new_figure(2.0 * count + 1, 2.0 * (len(rows) + 1) + 0.6)
  axes = figure.subplots(len(rows) + 1, count, squeeze=False)
  for column in range(count):
    axes[0, column].imshow(images[column], interpolation="nearest")
    axes[0, column].set_title(column_titles[column], fontsize=8)
  for row, (name, maps_) in enumerate(rows, start=1):
    low, high = float(np.min(maps_)), float(np.max(maps_))
    for column in range(count):
      axes[row, column].imshow(maps_[column], cmap="viridis", vmin=low, vmax=high,
                               interpolation="nearest")
    axes[row, 0].set_ylabel(name, fontsize=7)
  for axis in axes.flat:
    axis.set_xticks([])
    axis.set_yticks([])
  figure.suptitle(title, fontsize=8)
  return save(figure, path)
