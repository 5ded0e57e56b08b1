"""The written results of an evaluation: eval.json, CSVs and a Markdown summary.

`protocol_entry(result, ...)` turns one protocol's GridResult into a JSON-able dict of
metrics (computed by evaluate.metrics, the one place each metric is defined); the run's
report is a dict (see `evaluate.run.evaluate_workdir`) of such entries plus the run facts:

  {"workdir", "checkpoint_step", "model", "num_images", "image_selection", "seed",
   "image_indices", "clean_accuracy": Metric, "eval_config", "seconds",
   "protocols": {name: entry}}

where Metric = {"mean": float, "stderr": float} (standard error over images) and an entry is

  {"type", "options", "num_grid_points", "num_pairs", "seconds",
   "num_images": the images this protocol ran on (all the evaluation's, or the subset of a
       protocol entry's num_images: evaluate.images.protocol_image_rows), "image_indices":
       their test-set indices (images_entry; evaluate.run adds both),
   "pooling": how "metrics" combine the sizes (evaluate.metrics.POOLING: the equal-weight
       mean over sizes for embed_*; POOLING_ONE_GROUP otherwise),
   "metrics": {"accuracy", "worst_case_accuracy", "consistency", "p_top1_change", "mac",
               "stable_prediction"},
   "max_logit_change": float, the largest change of any logit between two grid points of
       the same group (size) of an image (metrics.max_logit_change),
   "sampled": bool,
   "sampling": None (full grid), or {"pairs_per_group", "points_per_group", "note"}: which
       metrics are estimates from sampled points and which are bounds,
   "adversarial": evaluate.adversarial.adversarial_summary (the worst grid point per image),
   "by_group": None, or for protocols with a 'size' grid key (embed_*):
       {"group_key": "size", "num_pairs": {"group": [s...], "count": [...]},
        "p_top1_change"|"mac" (pairs of group s; embed_scale: s vs s + 1) and
        "accuracy"|"worst_case_accuracy"|"consistency" (grid points of size s):
            {"group": [s...], "mean": [...], "stderr": [...]},
        "max_logit_change": {"group": [s...], "max": [...]}},
   "per_grid_point": None (sampled pairs), or
       {"grid": {key: [...] (G,)}, "accuracy": [...] (G,), "p_top1_change": [...] (G,)}}

The per-size values ("by_group") are the primary results of embed_*; "metrics" pools them
with equal weight per size (so a protocol's number does not depend on how many positions
each size has, and full-grid and sampled evaluations estimate the same quantity).

Entries of the shift attack (evaluate.attack.attack_entry, "kind": "attack") have the same
keys where they apply.

Files in workdir/eval/: eval.json; protocols.csv (one row per protocol); <name>_by_<group>.csv
per sweep (e.g. metrics per embedding size); <name>_grid.csv per full grid; summary.md (and
per_image.npz, written by evaluate.run with evaluate.stats.per_image: the values every summary
here is formed from).
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from common.atomic_files import atomic_write, atomic_write_text
from evaluate import adversarial, grid_summary, metrics
from evaluate.stats import per_image
from evaluate.json_values import finite_or_none, json_list, json_metric

EVAL_JSON = "eval.json"
SUMMARY_MD = "summary.md"
PROTOCOLS_CSV = "protocols.csv"
# The metrics of the summary table and protocols.csv, in order, with their column titles.
SUMMARY_METRICS = (("accuracy", "accuracy"), ("worst_case_accuracy", "worst-case acc."),
                   ("consistency", "consistency"), ("p_top1_change", "P(top-1 change)"),
                   ("mac", "MAC"), ("stable_prediction", "stable at every point"))
# The grid key that names the group of embed_* protocols (pair_group is this size).
SIZE_KEY = "size"
# A max logit change at or below this is float rounding (float32 logits of order 1-100 round
# at ~1e-7-1e-5 when the summation order changes): a zero metric is then reported as
# "0 up to float rounding (max |logit change| = ...)".
FLOAT_ROUNDING_LOGITS = 1e-4
SAMPLING_NOTE = ("sampled: P(top-1 change) and MAC on K pairs per size drawn uniformly among "
                 "the full grid's one-pixel pairs; accuracy and consistency on points drawn "
                 "uniformly without replacement (every position has the same chance); "
                 "worst-case accuracy over the drawn points is an upper bound and the max "
                 "logit change a lower bound of the full-grid value")


def protocol_entry(result, *, protocol_type: str, seconds: float, seed: int,
                   consistency_samples: int = 16,
                   summary: Optional[grid_summary.GridSummary] = None) -> dict[str, Any]:
  """The JSON-able report entry of one protocol (module docstring).

  Every metric is summarised from the per-image values (evaluate.stats.per_image: per image and
  group, then per group and pooled over groups with equal weight).

  Args:
    result: an evaluate.grid.GridResult: probs (N, G, C), labels (N,), grid {key: (G,) or
      (N, G) when sampled}, pairs (P, 2), pair_group (P,), point_group (G,), sampled,
      protocol_options.
    protocol_type: the PROTOCOLS name the protocol was built from.
    seconds: wall time of the grid evaluation.
    seed: seeds the random grid-point pairs of the consistency metric.
    consistency_samples: random pairs of grid points per image for the consistency metric.
    summary: the grid's evaluate.grid_summary.GridSummary when the caller has it (evaluate.run
      builds it chunk by chunk while the grid is evaluated, and the result then holds no
      probabilities); None = summarised from result.probs with `seed` and
      `consistency_samples`.
  """
  pairs = np.asarray(result.pairs)
  pair_group, point_group = np.asarray(result.pair_group), np.asarray(result.point_group)
  if summary is None:
    summary = grid_summary.summarize(result, seed=seed, consistency_samples=consistency_samples)
  values = summary.per_image
  # The point metrics use the point columns (all of a full grid; the uniform draws when
  # sampled); every metric is pooled over the groups with equal weight.
  point_groups = point_group[np.asarray(result.point_columns)]
  several = len(np.unique(point_group)) > 1
  entry = {
      "type": protocol_type,
      "options": result.protocol_options,
      "sampled": bool(result.sampled),
      "sampling": None,
      "num_grid_points": int(point_group.shape[0]),
      "num_pairs": int(pairs.shape[0]),
      "seconds": float(seconds),
      "pooling": metrics.POOLING if several else metrics.POOLING_ONE_GROUP,
      "metrics": {name: json_metric(per_image.pooled_stat(values.values[name]))
                  for name in per_image.MEAN_METRICS},
      "adversarial": adversarial.adversarial_summary(result, values),
      "max_logit_change": (None if result.logit_spread is None else
                           finite_or_none(metrics.max_logit_change(result.logit_spread))),
      "by_group": None,
      "per_grid_point": None,
  }
  if result.sampled:
    points = np.unique(point_groups, return_counts=True)
    entry["sampling"] = {
        "pairs_per_group": int(result.protocol_options.get("sample_pairs", 0)),
        "points_per_group": {"group": [int(g) for g in points[0]],
                             "count": [int(c) for c in points[1]]},
        "note": SAMPLING_NOTE}
  if SIZE_KEY in result.grid:
    entry["by_group"] = {
        "group_key": SIZE_KEY,
        **{name: _grouped(per_image.group_stats(values.values[name], values.groups))
           for name in SWEEP_METRICS},
        "max_logit_change": metrics.max_logit_change(result.logit_spread,
                                                     result.logit_groups),
    }
    entry["by_group"]["num_pairs"] = {
        "group": entry["by_group"]["p_top1_change"]["group"],
        "count": [int(np.sum(pair_group == g))
                  for g in entry["by_group"]["p_top1_change"]["group"]]}
  if not result.sampled:
    entry["per_grid_point"] = {
        "grid": {key: json_list(values) for key, values in result.grid.items()},
        "accuracy": json_list(summary.point_accuracy),
        "p_top1_change": json_list(change_per_start_point(summary.pair_change, pairs,
                                                          point_group.shape[0])),
    }
  return entry


def images_entry(image_indices: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
  """{"num_images", "image_indices"} of a protocol that ran on `rows` of the evaluation's
  images (test-set indices `image_indices`)."""
  return {"num_images": int(len(rows)),
          "image_indices": [int(i) for i in np.asarray(image_indices)[rows]]}


def protocol_image_count(report: Mapping[str, Any], name: str) -> int:
  """The images protocol `name` of a report ran on (reports written before per-protocol
  subsets: every image of the evaluation)."""
  return int(report["protocols"][name].get("num_images", report["num_images"]))


def _grouped(value: Mapping[str, Any]) -> dict[str, list]:
  """A per-group metric {"group", "mean", "stderr"} with JSON-able lists."""
  return {"group": [int(g) for g in value["group"]], "mean": json_list(value["mean"]),
          "stderr": json_list(value["stderr"])}


def change_per_grid_point(probs: np.ndarray, pairs: np.ndarray) -> np.ndarray:
  """(G,) P(top-1 change) of the one-pixel moves that start at each grid point.

  The fraction of (image, pair (g, g')) with a top-1 change (metrics.top1_changed) over the
  pairs whose first point is g; NaN where no pair starts at g. Weighted by the number of
  pairs per point, it averages to the protocol's P(top-1 change).
  """
  return change_per_start_point(metrics.top1_changed(probs, pairs).mean(0), pairs,
                                probs.shape[1])


def change_per_start_point(changed: np.ndarray, pairs: np.ndarray,
                           num_points: int) -> np.ndarray:
  """(G,) change_per_grid_point from `changed` (P,), the fraction of images whose top-1
  changes across each pair (evaluate.grid_summary.GridSummary.pair_change)."""
  pairs = np.asarray(pairs)
  counts = np.bincount(pairs[:, 0], minlength=num_points)
  totals = np.bincount(pairs[:, 0], weights=changed, minlength=num_points)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def _variant(entry: Mapping[str, Any]) -> str:
  """' (band-limited)' / ' (raw)' for a protocol with a band_limit option, else ''."""
  options = entry.get("options") or {}
  if "band_limit" not in options:
    return ""
  return " (band-limited)" if options["band_limit"] else " (raw)"


def format_stat(metric: Optional[Mapping[str, Any]]) -> str:
  """A {"mean", "stderr"} table cell: '0.1630 ± 0.0120' ('0.1630' without a standard error,
  'n/a' without a mean); the one format of eval.json's Stats in summary.md and compare.md."""
  if not metric or metric.get("mean") is None:
    return "n/a"
  stderr = metric.get("stderr")
  return f"{metric['mean']:.4f}" + (f" ± {stderr:.4f}" if stderr is not None else "")


def is_float_rounding_zero(mean: Optional[float], max_logit_change: Optional[float]) -> bool:
  """Whether a pair metric is 0 at the printed precision (4 decimals) while no logit moved
  by more than FLOAT_ROUNDING_LOGITS over the grid: invariant up to float rounding."""
  return (mean is not None and max_logit_change is not None and abs(mean) < 5e-5
          and max_logit_change <= FLOAT_ROUNDING_LOGITS)


def format_invariance(metric: Optional[Mapping[str, Any]], max_logit_change: Optional[float],
                      table: bool = True) -> str:
  """A P(top-1 change) or MAC cell: "0 up to float rounding (max |logit change| = 3e-07)"
  when is_float_rounding_zero, else mean ± standard error. `table` escapes the '|' for a
  Markdown table cell."""
  if metric and is_float_rounding_zero(metric.get("mean"), max_logit_change):
    bar = "\\|" if table else "|"
    return (f"0 up to float rounding (max {bar}logit change{bar} = "
            f"{max_logit_change:.1e})")
  return format_stat(metric)


def markdown_summary(report: Mapping[str, Any]) -> str:
  """A short Markdown summary: the run facts, one table row per protocol, and how the
  numbers are pooled over sizes and which come from sampled points."""
  model = report.get("model", {})
  lines = [
      f"# Invariance evaluation of `{report['workdir']}`",
      "",
      f"Model `{model.get('name', '?')}`, checkpoint step {report['checkpoint_step']}, "
      f"{report['num_images']} test images ({report['image_selection']}, seed "
      f"{report['seed']}); accuracy on the untransformed images "
      f"{format_stat(report['clean_accuracy'])}. Values: mean ± standard error over images (a "
      "protocol's images: all of them, or a subset drawn with the seed where the images "
      "column says fewer). "
      "MAC: mean absolute change of the first frame's top-class probability. Max \\|logit "
      "change\\|: the largest change of any logit between two grid points of the same size "
      "(embed_scale: sizes s and s + 1; protocols without sizes: the whole grid).",
      "",
      "| protocol | type | images | grid | grid points | pairs | "
      + " | ".join(title for _, title in SUMMARY_METRICS)
      + " | max \\|logit change\\| | seconds |",
      "|" + "---|" * (8 + len(SUMMARY_METRICS)),
  ]
  notes = []
  for name, entry in report["protocols"].items():
    sampled = entry.get("sampled")
    change = entry.get("max_logit_change")
    grid_kind = ("attack" if entry.get("kind") == "attack"
                 else "sampled (*)" if sampled else "full")
    cells = [name, entry["type"] + _variant(entry), str(protocol_image_count(report, name)),
             grid_kind,
             str(entry["num_grid_points"]), str(entry["num_pairs"])]
    for key, _ in SUMMARY_METRICS:
      metric = entry["metrics"].get(key)
      cells.append(format_invariance(metric, change) if key in metrics.PAIR_METRICS
                   else format_stat(metric))
    cells.append("n/a" if change is None else f"{change:.2e}" + (" (lower bound)" if sampled
                                                                  else ""))
    cells.append(f"{entry['seconds']:.1f}")
    lines.append("| " + " | ".join(cells) + " |")
    if entry.get("by_group"):
      notes.append(f"- `{name}`: {entry.get('pooling', metrics.POOLING)}; per-size values in "
                   f"`{name}_by_{entry['by_group']['group_key']}.csv`.")
  if notes:
    lines += ["", "Protocols with several sizes: every number in the table pools the sizes "
              "with equal weight (the per-size values are the primary results):", *notes]
  variants = [f"- `{name}`: band_limit={entry['options']['band_limit']}: "
              f"{entry['options'].get('band_limit_meaning', '')}."
              for name, entry in report["protocols"].items()
              if "band_limit" in (entry.get("options") or {})]
  if variants:
    lines += ["", "Sub-pixel shift variants (`band_limit`):", *variants]
  if any(entry.get("sampled") for entry in report["protocols"].values()):
    lines += ["", f"(*) {SAMPLING_NOTE}."]
  lines += adversarial.markdown_note(report["protocols"])
  return "\n".join(lines) + "\n"


def _write_csv(path: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  with atomic_write(path, newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
  return path


def write_protocols_csv(eval_dir: str, report: Mapping[str, Any]) -> str:
  """protocols.csv: one row per protocol: its number of images, every summary metric (pooled
  over sizes with equal weight) with its standard error, and the max logit change."""
  header = ["protocol", "type", "num_images", "sampled", "num_grid_points", "num_pairs"]
  for key, _ in SUMMARY_METRICS:
    header += [key, f"{key}_stderr"]
  header.append("max_logit_change")
  rows = []
  for name, entry in report["protocols"].items():
    row = [name, entry["type"], protocol_image_count(report, name), bool(entry.get("sampled")),
           entry["num_grid_points"],
           entry["num_pairs"]]
    for key, _ in SUMMARY_METRICS:
      metric = entry["metrics"].get(key) or {}
      row += [metric.get("mean"), metric.get("stderr")]
    row.append(entry.get("max_logit_change"))
    rows.append(row)
  return _write_csv(os.path.join(eval_dir, PROTOCOLS_CSV), header, rows)


# The per-group metrics of a sweep CSV, in column order.
SWEEP_METRICS = ("p_top1_change", "mac", "accuracy", "worst_case_accuracy", "consistency")


def write_sweep_csvs(eval_dir: str, report: Mapping[str, Any]) -> list[str]:
  """<name>_by_size.csv per protocol with a size sweep; <name>_grid.csv per full grid.

  A sweep CSV has one row per size: the number of images the protocol ran on and of pairs,
  then each of SWEEP_METRICS and its standard error (empty where a metric has no value for
  that size, e.g. embed_scale's pair metrics at the largest size s + 1), then the max logit
  change within that size. A grid CSV has one row per grid point: its parameters, the
  accuracy and the P(top-1 change) of the moves from it (over the protocol's images), and the
  number of those images.
  """
  paths = []
  for name, entry in report["protocols"].items():
    num_images = protocol_image_count(report, name)
    sweep = entry.get("by_group")
    if sweep:
      by_metric = {key: dict(zip(sweep[key]["group"], zip(sweep[key]["mean"],
                                                          sweep[key]["stderr"])))
                   for key in SWEEP_METRICS}
      counts = dict(zip(sweep["num_pairs"]["group"], sweep["num_pairs"]["count"]))
      groups = sorted(set(counts).union(*[set(values) for values in by_metric.values()]))
      largest = (dict(zip(sweep["max_logit_change"]["group"], sweep["max_logit_change"]["max"]))
                 if sweep.get("max_logit_change") else {})
      header = [sweep["group_key"], "num_images", "num_pairs"] + [
          f"{k}{s}" for k in SWEEP_METRICS for s in ("", "_stderr")]
      header.append("max_logit_change")
      rows = []
      for group in groups:
        row = [group, num_images, counts.get(group, 0)]
        for key in SWEEP_METRICS:
          row += list(by_metric[key].get(group, (None, None)))
        row.append(largest.get(group))
        rows.append(row)
      paths.append(_write_csv(os.path.join(eval_dir, f"{name}_by_{sweep['group_key']}.csv"),
                              header, rows))
    per_point = entry.get("per_grid_point")
    if per_point:
      grid_keys = list(per_point["grid"])
      rows = [[*row, num_images] for row in zip(
          *[per_point["grid"][k] for k in grid_keys], per_point["accuracy"],
          per_point["p_top1_change"])]
      paths.append(_write_csv(os.path.join(eval_dir, f"{name}_grid.csv"),
                              grid_keys + ["accuracy", "p_top1_change", "num_images"], rows))
  return paths


def write_reports(eval_dir: str, report: Mapping[str, Any]) -> dict[str, Any]:
  """Writes eval.json, the CSVs and summary.md into `eval_dir`; returns their paths."""
  os.makedirs(eval_dir, exist_ok=True)
  json_path = os.path.join(eval_dir, EVAL_JSON)
  atomic_write_text(json_path, json.dumps(report, indent=1) + "\n")
  markdown_path = os.path.join(eval_dir, SUMMARY_MD)
  atomic_write_text(markdown_path, markdown_summary(report))
  return {"json": json_path, "markdown": markdown_path,
          "csv": [write_protocols_csv(eval_dir, report)] + write_sweep_csvs(eval_dir, report)}


def load_report(workdir_or_eval_json: str) -> dict[str, Any]:
  """Reads a report: a path to eval.json, a directory holding it (an --out_dir), or a
  workdir holding eval/eval.json.

  Raises:
    FileNotFoundError naming the missing file (the workdir was not evaluated yet).
  """
  path = workdir_or_eval_json
  if os.path.isdir(path):
    direct = os.path.join(path, EVAL_JSON)
    path = direct if os.path.exists(direct) else os.path.join(path, "eval", EVAL_JSON)
  if not os.path.exists(path):
    raise FileNotFoundError(f"No evaluation report {path}: run `python -m evaluate --workdir "
                            f"{workdir_or_eval_json}` first.")
  with open(path) as f:
    return json.load(f)
