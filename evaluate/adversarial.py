"""Adversarial summary of a protocol: the worst grid point of every image.

An adversary that may pick any grid point of the protocol per image (the worst shift of
Engstrom et al. 2019; the "adversarial shift" measure of the alias-free papers when the grid
is every integer circular shift) wins on an image as soon as one grid point changes the
prediction (for invariance) or is misclassified (for accuracy). Per protocol, from the grid
engine's probabilities (N images, G grid points, C classes):

  stable_prediction: fraction of images whose top-1 class is the same at every grid point
    (evaluate.metrics.stable_prediction). 1.0 for a model exactly invariant under the
    protocol; the complement is the adversary's success rate against consistency.
  worst_case_accuracy: fraction of images classified right at every grid point
    (evaluate.metrics.worst_case_accuracy): the accuracy under the worst grid point.

Protocols with several sizes (embed_*) take the worst point within each size, and pool the
sizes with equal weight (evaluate.metrics.POOLING), like every other summary number.
Both are exhaustive only over a full grid (e.g. circular_shift with max_shift=None: all 1024
integer rolls; fractional_shift with step=0.5, max_shift=None: all 64 x 64 half-pixel shifts of
the torus). With sampled grids (sample_pairs > 0) they are taken over the uniformly drawn
points (GridResult.point_columns) only, so they over-estimate the adversarial values;
`adversarial_summary` records which, and over what ('over', from GRID_DESCRIPTIONS).
Both are formed from the per-image values (evaluate.stats.per_image: per image, 1 if every grid
point of the group is stable / right), like every other summary number.
The gradient attack over continuous shifts (evaluate/attack.py) reports the same two numbers
over the points it visited.
Pure NumPy; Stat = {"mean", "stderr"} with the standard error over images (evaluate.metrics).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from evaluate import metrics
from evaluate.stats import per_image
from evaluate.json_values import json_stat


def _torus_or_box(what: str, options: dict[str, Any], points: int) -> str:
  if options.get("max_shift") is None:
    return f"every {what} circular shift of the torus ({points} points)"
  return (f"every {what} circular shift with |dy|, |dx| <= {options['max_shift']} "
          f"({points} points)")


# protocol type -> (options, number of grid points) -> what its full grid is, in words.
GRID_DESCRIPTIONS = {
    "circular_shift": lambda options, points: _torus_or_box("integer", options, points),
    "fractional_shift": lambda options, points: _torus_or_box(
        f"{options['step']:g}-pixel ({'band-limited' if options.get('band_limit') else 'raw'}"
        " image)", options, points),
}


def describe_grid(protocol_name: str, options: dict[str, Any], points: int,
                  sampled: bool) -> str:
  """What the worst case of a protocol's evaluation was taken over, in words."""
  if sampled:
    return f"{points} drawn points per image (sampled: an upper bound of the full grid's value)"
  describe = GRID_DESCRIPTIONS.get(protocol_name)
  return describe(options, points) if describe else f"the full grid ({points} points)"


def adversarial_summary(result: Any, values: Any = None) -> dict[str, Any]:
  """The adversarial summary of one evaluate.grid.GridResult, JSON-able.

  Args:
    result: the GridResult (its grid description; its probabilities only if `values` is None).
    values: the grid's evaluate.stats.per_image.PerImage (stable_prediction and worst_case_accuracy
      per image and group), or None to reduce result.probs.
  Returns:
    {"exhaustive": bool (full grid, not sampled pairs), "num_grid_points": G,
     "over": describe_grid(...), e.g. "every 0.5-pixel (raw image) circular shift of the
       torus (4096 points)",
     "stable_prediction": Stat, "worst_case_accuracy": Stat,
     "by_group": None, or with several point groups (embedding sizes) the same two metrics
       per group: {"group": [...], "stable_prediction": {...}, "worst_case_accuracy": {...}}}
    Non-finite values (the standard error of one image) become None.
  """
  if values is None:
    values = per_image.reduce_grid(result, seed=0)
  columns = np.asarray(result.point_columns)
  point_group = np.asarray(result.point_group)[columns]
  several = len(np.unique(point_group)) > 1
  summary = {
      "exhaustive": not bool(result.sampled),
      "num_grid_points": int(columns.shape[0]),
      "over": describe_grid(result.protocol_name, dict(result.protocol_options),
                            int(columns.shape[0]), bool(result.sampled)),
      "pooling": metrics.POOLING if several else metrics.POOLING_ONE_GROUP,
      "stable_prediction": json_stat(per_image.pooled_stat(values.values["stable_prediction"])),
      "worst_case_accuracy": json_stat(per_image.pooled_stat(
          values.values["worst_case_accuracy"])),
      "by_group": None,
  }
  if several:
    stable = per_image.group_stats(values.values["stable_prediction"], values.groups)
    worst = per_image.group_stats(values.values["worst_case_accuracy"], values.groups)
    summary["by_group"] = {
        "group": stable["group"],
        "stable_prediction": json_stat(stable),
        "worst_case_accuracy": json_stat(worst),
    }
  return summary


def markdown_note(protocol_entries: dict[str, Any]) -> list[str]:
  """Lines for summary.md saying over which grid points the adversarial metrics were taken.

  protocol_entries: name -> report entry (evaluate.report.protocol_entry).
  """
  sampled = [name for name, entry in protocol_entries.items() if entry.get("sampled")]
  lines = ["", "Worst-case accuracy and 'stable at every point' (same top-1 at every grid "
               "point) take the worst grid point of each image: adversarial values."]
  if sampled:
    lines[-1] += (" For " + ", ".join(f"`{name}`" for name in sampled) + " (sampled pairs) "
                  "only the drawn points count, so they over-estimate the adversarial values.")
  for name, entry in protocol_entries.items():
    adversarial = entry.get("adversarial") or {}
    if adversarial.get("over"):
      kind = "exhaustive" if adversarial.get("exhaustive") else "not exhaustive"
      lines.append(f"- `{name}`: worst case over {adversarial['over']} ({kind}).")
  return lines
