"""Per-layer curves of several workdirs on one figure per metric (from their layers.json)."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence

from evaluate.layers.runner import LAYERS_SUBDIR, REPORT_FILE
from evaluate.plots import layers as layer_plots

# analysis -> (metric key, y label) panels drawn versus relative depth.
PANELS = {
    "shiftability": [("equivariance_error", "equivariance error"),
                     ("global_sum_change", "global-sum change")],
    "alignment": [("translation", "alignment error, translations"),
                  ("scale", "alignment error, rescalings"),
                  ("rotation", "alignment error, 90° rotations")],
    "lie_derivative": [("relative_lie_derivative", "relative Lie derivative"),
                       ("lie_derivative", "Lie derivative, mean |L F|")],
    "lie_derivative_layerwise": [("contribution", "layer-wise Lie derivative, mean |c|")],
    "readout": [("p_top1_change", "P(top-1 change), crop"), ("mac", "MAC, crop"),
                ("accuracy", "readout accuracy")],
}


def load_report(workdir: str) -> dict:
  path = os.path.join(workdir, LAYERS_SUBDIR, REPORT_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no {path}: run python -m evaluate.layers --workdir {workdir} first")
  with open(path) as f:
    return json.load(f)


def compare_workdirs(workdirs: Sequence[str], out_dir: str) -> list[str]:
  """One PNG per analysis present in every report: metrics versus relative depth."""
  reports = [load_report(workdir) for workdir in workdirs]
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  command = f"python -m evaluate.layers --compare {','.join(workdirs)} --out_dir {out_dir}"
  for analysis, panels in PANELS.items():
    if not all(analysis in report["analyses"] for report in reports):
      continue
    labels = [report["model_label"] for report in reports]
    labels = [label if labels.count(label) == 1 else f"{workdir} ({report['model']['name']})"
              for label, workdir, report in zip(labels, workdirs, reports)]
    series = [dict(label=label, layers=report["analyses"][analysis]["layers"])
              for label, report in zip(labels, reports)]
    paths.append(layer_plots.plot_by_depth(
        series, panels, os.path.join(out_dir, f"{analysis}_by_depth.png"), relative_depth=True,
        title=f"{analysis} by depth ({', '.join(str(r['num_images']) for r in reports)} test "
              f"images; mean ± stderr)\n{command}"))
  if not paths:
    raise ValueError("the reports share no analysis to compare")
  return paths
