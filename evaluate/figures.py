"""The PNGs of an evaluation: per protocol (heat maps over the grid, jagged curves) and from
the report alone (sensitivity versus size, metrics per protocol). Drawing is in evaluate.plots."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections
import numpy as np

from evaluate import jagged, plots, report


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
    sizes = (plots.spread_sizes(grid["size"], eval_config.max_heatmap_sizes)
             if "size" in grid else None)
    if sizes is None or sizes:
      paths.append(plots.plot_shift_heatmaps(
          grid, plots.as_floats(per_point["accuracy"]),
          plots.as_floats(per_point["p_top1_change"]),
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
      paths.append(plots.plot_jagged_curves(
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
    paths.append(plots.plot_sensitivity_vs_size(
        sweeps, os.path.join(eval_dir, "sensitivity_vs_size.png"),
        title=f"{label}: sensitivity to one-pixel moves versus embedding size "
              f"({images}, ± standard error)"))
  paths.append(plots.plot_protocol_bars(
      [dict(label=label, metrics={name: entry["metrics"]
                                  for name, entry in eval_report["protocols"].items()})],
      os.path.join(eval_dir, "metrics_per_protocol.png"),
      clean_accuracy={label: eval_report["clean_accuracy"]["mean"]},
      protocol_labels={name: _protocol_label(eval_report, name)
                       for name in eval_report["protocols"]},
      title=f"{label}: metrics per protocol ({images}, ± standard error)"))
  return paths
