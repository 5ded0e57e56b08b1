"""One evaluation's figures (`python -m evaluate`): per protocol, heat maps over the grid and
jagged curves (drawn here), and from the report alone sensitivity versus size and metrics per
protocol (drawn by evaluate.plots.comparison, the same figures as for several runs)."""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import ml_collections
import numpy as np

from evaluate import jagged, report
from evaluate.plots import MaxNLocator, as_floats, comparison, new_figure, save, suptitle

# Colours of the two frames shown beside a jagged curve (the dots on the curve match them).
_FRAME_COLORS = ("tab:green", "tab:red")


def _is_position_grid(grid: Mapping[str, np.ndarray]) -> bool:
  """Whether the grid holds, per size (if any), a 2-D set of positions: one worth a heat map
  (not embed_scale, whose positions only follow the size)."""
  sizes = grid["size"] if "size" in grid else np.zeros_like(grid["dx"])
  return all(len(np.unique(grid["dx"][sizes == s])) > 1 and
             len(np.unique(grid["dy"][sizes == s])) > 1 for s in np.unique(sizes))


def plot_protocol(eval_dir: str, name: str, entry: Mapping[str, Any], result, protocol,
                  images: np.ndarray, image_indices: np.ndarray, class_names: Sequence[str],
                  eval_config: ml_collections.ConfigDict, summary=None) -> list[str]:
  """The PNGs of one protocol: heat maps over (dx, dy) and jagged curves (full grids only).

  summary: the grid's evaluate.grid_summary.GridSummary with the jagged path's
  probabilities (path_correct), for a result that holds no probabilities.
  """
  paths = []
  per_point = entry.get("per_grid_point")
  if not per_point:
    return paths
  grid = {key: np.asarray(values) for key, values in per_point["grid"].items()}
  if _is_position_grid(grid):
    sizes = (spread_sizes(grid["size"], eval_config.max_heatmap_sizes)
             if "size" in grid else None)
    if sizes is None or sizes:
      paths.append(plot_shift_heatmaps(
          grid, as_floats(per_point["accuracy"]),
          as_floats(per_point["p_top1_change"]),
          os.path.join(eval_dir, f"{name}_heatmap.png"), sizes=sizes,
          title=f"{name} ({entry['type']}): accuracy, and P(top-1 change) of the "
                f"{entry['options'].get('step', 'one')}-pixel "
                f"{entry['options'].get('direction', '')} move from each grid point"))
  has_path = result.probs is not None or (summary is not None
                                          and summary.path_correct is not None)
  if eval_config.num_jagged_images > 0 and has_path:
    curves, x_label, x_symbol = jagged.jagged_curves(
        result, protocol, entry["type"], images, image_indices, class_names,
        eval_config.num_jagged_images,
        path_correct=None if summary is None else summary.path_correct)
    if curves and len(curves[0]["x"]) >= 2:
      paths.append(plot_jagged_curves(
          curves, os.path.join(eval_dir, f"{name}_jagged.png"), x_label=x_label,
          x_symbol=x_symbol,
          title=f"{name} ({entry['type']}): probability of the correct class along a path"))
  return paths


def _protocol_label(eval_report: Mapping[str, Any], name: str) -> str:
  """The protocol's name, with its number of images when it ran on a subset."""
  count = report.protocol_image_count(eval_report, name)
  return name if count == eval_report["num_images"] else f"{name} ({count} images)"


def plot_report(eval_dir: str, eval_report: Mapping[str, Any]) -> list[str]:
  """The PNGs computed from the report alone: sensitivity vs size, metrics per protocol."""
  paths = []
  label = eval_report["model"].get("name", "model")
  images = (f"{eval_report['num_images']} images"
            + ("; fewer where a protocol says so" if any(
                report.protocol_image_count(eval_report, name) != eval_report["num_images"]
                for name in eval_report["protocols"]) else ""))
  sweeps = [dict(label=_protocol_label(eval_report, name), **entry["by_group"])
            for name, entry in eval_report["protocols"].items() if entry.get("by_group")]
  if sweeps:
    paths.append(comparison.plot_sensitivity_vs_size(
        sweeps, os.path.join(eval_dir, "sensitivity_vs_size.png"),
        title=f"{label}: sensitivity to one-pixel moves versus embedding size "
              f"({images}, ± standard error)"))
  paths.append(comparison.plot_protocol_bars(
      [dict(label=label, metrics={name: entry["metrics"]
                                  for name, entry in eval_report["protocols"].items()})],
      os.path.join(eval_dir, "metrics_per_protocol.png"),
      clean_accuracy={label: eval_report["clean_accuracy"]["mean"]},
      protocol_labels={name: _protocol_label(eval_report, name)
                       for name in eval_report["protocols"]},
      title=f"{label}: metrics per protocol ({images}, ± standard error)"))
  return paths


# --- drawing ----------------------------------------------------------------------------------


def _grid_image(x: np.ndarray, y: np.ndarray, values: np.ndarray):
  """Scatters values at (x, y) onto a dense (len(ys), len(xs)) array (NaN where absent)."""
  xs, ys = np.unique(x), np.unique(y)
  image = np.full((len(ys), len(xs)), np.nan)
  image[np.searchsorted(ys, y), np.searchsorted(xs, x)] = values
  return xs, ys, image


def plot_shift_heatmaps(grid: Mapping[str, np.ndarray], accuracy: np.ndarray,
                        change: np.ndarray, path: str, *, title: str,
                        sizes: Optional[Sequence[int]] = None, x_key: str = "dx",
                        y_key: str = "dy", size_key: str = "size") -> str:
  """Heat maps of accuracy and of P(top-1 change) over the (dx, dy) grid.

  Args:
    grid: the protocol's grid, each array (G,): at least `x_key` and `y_key` (pixels), and
      `size_key` when `sizes` is given.
    accuracy: (G,) accuracy at each grid point, in [0, 1].
    change: (G,) P(top-1 change) of the one-pixel move starting at each grid point (NaN for
      points that start no pair).
    path: the PNG written.
    title: the figure title.
    sizes: one row of heat maps per size (grid points with grid[size_key] == size); None =
      one row with every grid point.
  Returns:
    `path`.
  """
  rows = [None] if sizes is None else list(sizes)
  shown_change = np.asarray(change, np.float64)
  if sizes is not None:
    shown_change = shown_change[np.isin(np.asarray(grid[size_key]), rows)]
  # One colour scale for every size, so that rows compare.
  change_max = float(np.nanmax(shown_change)) if np.any(np.isfinite(shown_change)) else 1.0
  change_max = change_max if change_max > 0 else 1.0
  figure = new_figure(9.0, 3.8 * len(rows) + 0.4)
  axes = np.asarray(figure.subplots(len(rows), 2, squeeze=False))
  for row, size in zip(axes, rows):
    keep = (np.ones_like(accuracy, bool) if size is None
            else np.asarray(grid[size_key]) == size)
    x, y = np.asarray(grid[x_key])[keep], np.asarray(grid[y_key])[keep]
    for axis, values, label, cmap in ((row[0], accuracy, "accuracy", "viridis"),
                                      (row[1], change, "P(top-1 change)", "magma")):
      xs, ys, image = _grid_image(x, y, np.asarray(values, np.float64)[keep])
      step_x = (xs[1] - xs[0]) if len(xs) > 1 else 1
      step_y = (ys[1] - ys[0]) if len(ys) > 1 else 1
      extent = (xs[0] - step_x / 2, xs[-1] + step_x / 2, ys[-1] + step_y / 2,
                ys[0] - step_y / 2)
      shown = axis.imshow(np.ma.masked_invalid(image), cmap=cmap, vmin=0.0,
                          vmax=1.0 if label == "accuracy" else change_max, extent=extent,
                          interpolation="nearest", aspect="equal")
      figure.colorbar(shown, ax=axis, label=label, shrink=0.9)
      axis.set_xlabel(f"{x_key} (pixels)")
      axis.set_ylabel(f"{y_key} (pixels)")
      axis.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
      axis.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
      where = "" if size is None else f", size {size}"
      blank = " (blank: no move starts here)" if label != "accuracy" else ""
      axis.set_title(f"{label}{where}{blank}", fontsize="medium")
  suptitle(figure, title)
  return save(figure, path)


def plot_jagged_curves(curves: Sequence[Mapping[str, Any]], path: str, *, title: str,
                       x_label: str, x_symbol: str = "dx") -> str:
  """Correct-class probability versus shift for a few images, with the images (paper fig. 1).

  Args:
    curves: one dict per image: name=str (e.g. 'test image 17, true class: cat'),
      x=(K,) shift of each point along the path, prob=(K,) probability of the correct class
      at each point in [0, 1], frames=[(x, uint8 (32, 32, 3) image), ...] (up to two; the
      transformed image at that point, drawn left of the curve and marked on it).
    path: the PNG written.
    title: the figure title.
    x_label: the x-axis label (what the shift is).
    x_symbol: the short name of the x value in the frame titles, e.g. 'dx' or 's'.
  Returns:
    `path`.
  """
  figure = new_figure(11.0, 2.4 * len(curves) + 0.6)
  grid_spec = figure.add_gridspec(max(len(curves), 1), 4, width_ratios=(1, 1, 2.5, 2.5))
  for row, curve in enumerate(curves):
    x, prob = np.asarray(curve["x"]), np.asarray(curve["prob"])
    plot_axis = figure.add_subplot(grid_spec[row, 2:])
    plot_axis.plot(x, prob, color="tab:blue", marker=".", linewidth=1.2)
    for column, ((frame_x, frame), color) in enumerate(zip(curve["frames"], _FRAME_COLORS)):
      image_axis = figure.add_subplot(grid_spec[row, column])
      image_axis.imshow(np.asarray(frame, np.uint8), interpolation="nearest")
      image_axis.set_xticks([])
      image_axis.set_yticks([])
      for spine in image_axis.spines.values():
        spine.set_color(color)
        spine.set_linewidth(3)
      frame_prob = float(prob[np.argmin(np.abs(x - frame_x))])
      image_axis.set_title(f"{x_symbol}={frame_x:g}: p={frame_prob:.2f}",
                           fontsize="small")
      plot_axis.plot([frame_x], [frame_prob], "o", color=color, markersize=8)
    plot_axis.set_ylim(-0.02, 1.02)
    plot_axis.set_ylabel("P(correct class)")
    plot_axis.set_title(curve["name"], fontsize="small")
    plot_axis.grid(alpha=0.3)
    if row == len(curves) - 1:
      plot_axis.set_xlabel(x_label)
  suptitle(figure, title)
  return save(figure, path)


def spread_sizes(sizes: Sequence[int], count: int) -> list[int]:
  """Up to `count` of the sorted distinct `sizes`, evenly spread, always with both ends."""
  distinct = sorted({int(s) for s in sizes})
  if count <= 0 or len(distinct) <= count:
    return distinct if count > 0 else []
  picks = np.linspace(0, len(distinct) - 1, count)
  return sorted({distinct[int(math.floor(p + 0.5))] for p in picks})
