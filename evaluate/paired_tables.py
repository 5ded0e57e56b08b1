"""The one renderer of paired comparisons (the dict of evaluate.stats.paired.compare_runs, what
paired.json holds) as Markdown tables; nothing is recomputed, every number is paired.json's.

  markdown(paired)          paired.md: one table per pair of runs (protocol, metric, A, B,
                            B - A with its interval, distinguishable), the method, what was left
                            out (`python -m evaluate.compare`, `sweep.py --collect --baseline`)
  difference_rows(paired)   the differences against the baseline in a sweep's summary.md
                            (sweeps/collect.py): a row per member and protocol, bold where the
                            interval excludes 0 (after the adjustment; "†": before it only)
  paired_table(paired, metric, protocols)   RESULTS.md's compact table of one metric
                            (`python -m scripts.paired_table`): a row per member with its
                            number of seeds, a column per protocol: the baseline's value with
                            its interval, every other member's value and its difference B - A
                            [interval], bold where the interval excludes 0 (after Holm's
                            adjustment within its family where paired.json has it; "†": before
                            the adjustment only), "≈" where it
                            holds 0 (indistinguishable on this evidence, not ranked); the first
                            column is the accuracy on the whole test set where paired.json has
                            it (test_set_accuracy), else on the untransformed evaluated images
  size_table(paired, protocol, metric)   RESULTS.md's table of one metric of one protocol per
                            size (embedded side): a row per member, a column per size, cells
                            as paired_table's
  write_paired(out_dir, paired)   paired.json and paired.md
Cells: format_interval ('0.1630 [0.1400, 0.1870]'), format_value. Every table marks with
COVERAGE_MARK ("‡") the cells of a proportion whose interval lacks its stated coverage (fewer
than COVERAGE_MIN_IMAGES images and a rate outside COVERAGE_RATES: low_coverage) and then
says so in one line under it (COVERAGE_NOTE).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from common.atomic_files import atomic_write_text
from evaluate.stats.paired import CLEAN, TEST_SET

PAIRED_JSON = "paired.json"
PAIRED_MD = "paired.md"
# Titles of the compared quantities in paired.md, in order.
METRIC_TITLES = {"accuracy": "accuracy", "worst_case_accuracy": "worst-case acc.",
                 "consistency": "consistency", "p_top1_change": "P(top-1 change)",
                 "mac": "MAC", "stable_prediction": "stable at every point"}


def format_value(value: Optional[float]) -> str:
  return "n/a" if value is None else f"{value:.4f}"


def format_interval(mean: Optional[float], low: Optional[float], high: Optional[float],
                    signed: bool = False, digits: int = 4) -> str:
  """'0.1630 [0.1400, 0.1870]' (signed: '+0.0480 [+0.0120, +0.0830]'), `digits` decimals."""
  if mean is None:
    return "n/a"
  spec = f"{'+' if signed else ''}.{digits}f"
  return f"{mean:{spec}} [{low:{spec}}, {high:{spec}}]"


ADJUSTED, UNADJUSTED_ONLY, NEITHER = "adjusted", "unadjusted only", "neither"
DAGGER = "†"  # Marks a difference distinguishable before the multiplicity adjustment only.


# Coverage of the 95% interval with few images and rare events, measured in docs/evaluation.md
# ("Coverage with few images and rare events"; `nice -n 5 python -m experiments.bootstrap_coverage
# --replications 200 --resamples 500 --images 8 20 40`): where a rate is below about 0.1 or above
# 0.9, coverage is 0.35-0.88 with 8 images and 0.70-0.80 with 20 (one seed, or one run that never
# changes), 0.89-0.97 from 40 images on; moderate rates keep 0.885-0.985 from 8 images on.
COVERAGE_MIN_IMAGES = 40  # Fewer images than this, with a rate outside COVERAGE_RATES: marked.
COVERAGE_RATES = (0.1, 0.9)  # Rates within [low, high] keep the coverage at any count.
# The metrics that are proportions of events (the simulations' binary scenarios); MAC is
# continuous and its rare-event coverage was not measured, so it is never marked.
PROPORTION_METRICS = ("accuracy", "worst_case_accuracy", "consistency", "p_top1_change",
                      "stable_prediction")
COVERAGE_MARK = "‡"  # Marks a cell whose interval lacks its stated coverage (low_coverage).
COVERAGE_NOTE = (
    f"{COVERAGE_MARK}: fewer than {COVERAGE_MIN_IMAGES} images and a rate below "
    f"{COVERAGE_RATES[0]:g} or above {COVERAGE_RATES[1]:g}: this interval does not have its "
    "stated coverage (too narrow; read the cell as descriptive), see "
    "[docs/evaluation.md](docs/evaluation.md#coverage-with-few-images-and-rare-events).")


def low_coverage(entry: Optional[Mapping[str, Any]], n_images: Optional[int], metric: str,
                 rates: Sequence[str] = ("a", "b")) -> bool:
  """Whether the interval of `entry` (a paired.json entry of `metric`, compared on `n_images`
  images) lacks its stated coverage: a proportion (PROPORTION_METRICS) on fewer than
  COVERAGE_MIN_IMAGES images with a run's mean (the entry's `rates`: "a", "b") outside
  COVERAGE_RATES. False where the entry or the image count is unknown."""
  if entry is None or n_images is None or metric not in PROPORTION_METRICS:
    return False
  if n_images >= COVERAGE_MIN_IMAGES:
    return False
  low, high = COVERAGE_RATES
  return any(entry.get(key) is not None and not low <= entry[key] <= high for key in rates)


def _with_coverage_note(lines: list[str]) -> list[str]:
  """`lines` (a table), with COVERAGE_NOTE under it where a cell holds COVERAGE_MARK."""
  if any(COVERAGE_MARK in line for line in lines):
    return lines + ["", COVERAGE_NOTE]
  return lines


def verdict(entry: Mapping[str, Any]) -> str:
  """ADJUSTED: distinguishable after Holm's adjustment (evaluate.stats.multiplicity), or, in a
  paired.json written before the adjustment existed (no distinguishable_adjusted), its
  interval excludes 0; UNADJUSTED_ONLY: its interval excludes 0 but not after the adjustment;
  NEITHER: its interval holds 0."""
  if not entry["distinguishable"]:
    return NEITHER
  return ADJUSTED if entry.get("distinguishable_adjusted", True) else UNADJUSTED_ONLY


def _verdict_text(entry: Mapping[str, Any]) -> str:
  """paired.md's last column: 'yes', 'no (interval holds 0)', and with the adjustment the
  Holm-adjusted p-value ('yes (Holm p = 0.0030)', '† before adjustment only (Holm p =
  0.2100)')."""
  shown = verdict(entry)
  if shown == NEITHER:
    return "no (interval holds 0)"
  if "p_adjusted" not in entry:
    return "yes"
  holm = f"Holm p = {entry['p_adjusted']:.4f}"
  return f"yes ({holm})" if shown == ADJUSTED else f"{DAGGER} before adjustment only ({holm})"


def _coverage_suffix(flagged: bool) -> str:
  return f" {COVERAGE_MARK}" if flagged else ""


def _row(protocol: str, title: str, entry: Mapping[str, Any], n_images: Optional[int],
         metric: str) -> str:
  """A row of paired.md; B - A marked COVERAGE_MARK where low_coverage."""
  cells = [protocol, title,
           format_interval(entry["a"], entry["a_ci_low"], entry["a_ci_high"]),
           format_interval(entry["b"], entry["b_ci_low"], entry["b_ci_high"]),
           format_interval(entry["diff"], entry["ci_low"], entry["ci_high"], signed=True)
           + _coverage_suffix(low_coverage(entry, n_images, metric)),
           _verdict_text(entry)]
  return "| " + " | ".join(cells) + " |"


def markdown(paired: Mapping[str, Any]) -> str:
  """paired.md: one table per pair (protocol, metric, A, B, B - A with its interval,
  distinguishable), the method, and per pair what was left out."""
  confidence = f"{paired['confidence']:.0%}"
  lines = ["# Paired comparisons", "",
           f"Values: mean over seeds and shared test images [{confidence} interval]. "
           f"B - A: {paired['method']}; {paired['bootstrap_samples']} resamples, seed "
           f"{paired['bootstrap_seed']}. Distinguishable: the interval of B - A excludes 0; "
           "otherwise the two are indistinguishable on this evidence (not ranked). Protocols "
           "with several sizes: the equal-weight mean over sizes per image (per-size "
           "differences in paired.json, 'by_group'). A protocol shown with a number of "
           "images ran on that subset of the shared images (its num_images) and is compared "
           "on it. Max \\|logit change\\| is a max over images: shown, not bootstrapped."
           + multiplicity_note(paired), ""]
  for pair in paired["pairs"]:
    lines += [f"## A = `{pair['a']}`, B = `{pair['b']}`", "",
              f"{pair['n_images']} shared test images; seeds: A {pair['n_seeds_a']}, "
              f"B {pair['n_seeds_b']}."
              + (f" {pair['images_left_out']} (seed, image) evaluations outside the shared "
                 "images left out." if pair["images_left_out"] else "")
              + (f" Protocols not in every run (skipped): "
                 f"{', '.join(pair['protocols_skipped'])}." if pair["protocols_skipped"]
                 else ""), "",
              f"| protocol | metric | A | B | B - A [{confidence}] | distinguishable |",
              "|---|---|---|---|---|---|",
              _row("untransformed", "accuracy", pair[CLEAN], pair["n_images"], "accuracy")]
    table_start = len(lines) - 1
    for name, protocol in pair["protocols"].items():
      count = protocol.get("n_images", pair["n_images"])
      shown = protocol_title(name, protocol.get("n_images"), pair["n_images"])
      for metric, entry in protocol["metrics"].items():
        lines.append(_row(shown, METRIC_TITLES[metric], entry, count, metric))
      change = protocol["max_logit_change"]
      lines.append(f"| {shown} | max \\|logit change\\| (not bootstrapped) | "
                   f"{_format_change(change['a'])} | {_format_change(change['b'])} | | |")
    lines[table_start:] = _with_coverage_note(lines[table_start:])
    lines.append("")
  if paired.get("left_out"):
    lines += ["Not compared: " + "; ".join(f"`{label}`: {why}"
                                           for label, why in paired["left_out"].items()), ""]
  return "\n".join(lines)


def multiplicity_note(paired: Mapping[str, Any]) -> str:
  """' Multiple comparisons: ...' (the adjustment, its families and the marks) for a paired.json
  with the adjustment; '' for one without (rendered as before it existed)."""
  adjustment = paired.get("multiplicity")
  if not adjustment:
    return ""
  return (f" Multiple comparisons: {adjustment['method']}, family-wise level "
          f"{adjustment['alpha']:g}; families: "
          + "; ".join(f"{name} ({size})" for name, size in adjustment["families"].items())
          + f". Bold: distinguishable after the adjustment; {DAGGER}: before it only "
          "(the interval excludes 0, but not at the family's level).")


def protocol_title(name: str, num_images: Optional[int], all_images: int) -> str:
  """The protocol's name, with its number of images when it is compared on fewer than
  `all_images` (a protocol with num_images)."""
  if num_images is None or num_images == all_images:
    return name
  return f"{name} ({num_images} images)"


def _format_change(value: Optional[float]) -> str:
  return "n/a" if value is None else f"{value:.2e}"


def write_paired(out_dir: str, paired: Mapping[str, Any]) -> dict[str, str]:
  """Writes paired.json and paired.md into `out_dir`; returns their paths."""
  os.makedirs(out_dir, exist_ok=True)
  json_path = os.path.join(out_dir, PAIRED_JSON)
  atomic_write_text(json_path, json.dumps(paired, indent=1) + "\n")
  markdown_path = os.path.join(out_dir, PAIRED_MD)
  atomic_write_text(markdown_path, markdown(paired))
  return {"json": json_path, "markdown": markdown_path}


def difference_rows(comparison: Mapping[str, Any], metrics: Sequence[tuple[str, str]]
                    ) -> list[str]:
  """The differences of every member from the baseline (a compare_runs dict with a
  baseline): a header, then a row per member and protocol with the untransformed accuracy
  (on the member's first row) and `metrics` ((key, title) pairs), each B - A [interval], bold
  where the interval excludes 0 (after the adjustment where paired.json has it; "†": before it
  only, verdict)."""
  keys = [key for key, _ in metrics]
  lines = ["| member | protocol | untransformed accuracy | "
           + " | ".join(title for _, title in metrics) + " |",
           "|" + "---|" * (3 + len(keys))]

  def cell(entry, n_images, metric):
    if not entry:
      return "n/a"
    text = format_interval(entry["diff"], entry["ci_low"], entry["ci_high"], True)
    shown = verdict(entry)
    return ((f"**{text}**" if shown == ADJUSTED
             else f"{text} {DAGGER}" if shown == UNADJUSTED_ONLY else text)
            + _coverage_suffix(low_coverage(entry, n_images, metric)))

  for pair in comparison["pairs"]:
    for index, (name, protocol) in enumerate(pair["protocols"].items()):
      count = protocol.get("n_images", pair["n_images"])
      lines.append("| " + " | ".join(
          [pair["b"], name,
           cell(pair[CLEAN], pair["n_images"], "accuracy") if index == 0 else ""]
          + [cell(protocol["metrics"].get(metric), count, metric) for metric in keys]) + " |")
  return _with_coverage_note(lines)


# --- RESULTS.md's tables ----------------------------------------------------------------------


UNTRANSFORMED = "untransformed accuracy"
# Title of the accuracy column of paired_table, by the paired.json key it shows.
ACCURACY_TITLES = {TEST_SET: "accuracy, whole test set", CLEAN: UNTRANSFORMED}
DIGITS = 3  # Decimals of every value in RESULTS.md's tables.


def _difference(result: Mapping[str, Any]) -> str:
  """'0.052, Δ **-0.045 [-0.058, -0.033]**' (distinguishable: after the adjustment where
  paired.json has it, verdict), '..., Δ -0.030 [-0.058, -0.003] †' (before the adjustment
  only) or '..., Δ -0.004 [-0.044, +0.036] ≈' (the interval holds 0)."""
  text = format_interval(result["diff"], result["ci_low"], result["ci_high"], signed=True,
                         digits=DIGITS)
  shown = verdict(result)
  text = (f"**{text}**" if shown == ADJUSTED
          else f"{text} {DAGGER}" if shown == UNADJUSTED_ONLY else f"{text} ≈")
  return f"{result['b']:.{DIGITS}f}, Δ {text}"


def _seeds(count: Optional[int]) -> str:
  """'3 seeds', '1 seed', or '' when paired.json does not say."""
  return f"{count} seed{'s' if count != 1 else ''}" if count else ""


def _results_cell(result: Optional[Mapping[str, Any]], baseline: bool,
                  n_images: Optional[int] = None, metric: str = "") -> str:
  """The baseline's value with its interval (marked COVERAGE_MARK where its own rate makes
  low_coverage), or another member's difference (marked where either rate does)."""
  if result is None:
    return "n/a"
  if baseline:
    return (format_interval(result["a"], result["a_ci_low"], result["a_ci_high"],
                            digits=DIGITS)
            + _coverage_suffix(low_coverage(result, n_images, metric, rates=("a",))))
  return _difference(result) + _coverage_suffix(low_coverage(result, n_images, metric))


def _member_cell(pair: Mapping[str, Any], baseline: bool) -> str:
  """'`none` (baseline, 3 seeds)' for the pair's A, '`b` (3 seeds)' for its B."""
  if baseline:
    seeds = _seeds(pair.get("n_seeds_a"))
    return f"`{pair['a']}` (baseline" + (f", {seeds})" if seeds else ")")
  seeds = _seeds(pair.get("n_seeds_b"))
  return f"`{pair['b']}`" + (f" ({seeds})" if seeds else "")


def _pairs_and_metric(paired: Mapping[str, Any], metric: str) -> list[Mapping[str, Any]]:
  """paired.json's pairs, checked to exist and to hold `metric` somewhere.

  Raises:
    ValueError: no pairs, or an unknown metric (the message lists the valid ones).
  """
  pairs = paired.get("pairs") or []
  if not pairs:
    raise ValueError("paired.json holds no pairs (was the sweep collected with --baseline?)")
  metrics = sorted({name for pair in pairs for protocol in pair["protocols"].values()
                    for name in protocol["metrics"]})
  if metric not in metrics:
    raise ValueError(f"unknown metric {metric!r}; paired.json has {metrics}")
  return pairs


def size_table(paired: Mapping[str, Any], protocol: str,
               metric: str = "p_top1_change") -> str:
  """One metric of one protocol with sizes (embed_*), per size: a row per member (the
  baseline's value with its interval, every other member's value and B - A [interval], bold
  where the interval excludes 0 (after the adjustment where paired.json has it; "†": before it
  only), "≈" where it holds 0), a column per size.

  Raises:
    ValueError: no pairs, an unknown metric, or a protocol that paired.json does not hold
      per size (the message lists those it does).
  """
  pairs = _pairs_and_metric(paired, metric)
  by_size = [name for name, entry in pairs[0]["protocols"].items() if entry.get("by_group")]
  if protocol not in by_size:
    raise ValueError(f"paired.json holds no per-size values of {protocol!r}; protocols with "
                     f"sizes: {by_size}")
  sizes = pairs[0]["protocols"][protocol]["by_group"]["groups"]
  count = pairs[0]["protocols"][protocol].get("n_images")
  header = [f"member ({count} images)" if count else "member"]
  header += [f"size {size}" for size in sizes]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for index, pair in enumerate([pairs[0]] + list(pairs)):
    baseline = index == 0
    entry = pair["protocols"].get(protocol) or {}
    grouped = entry.get("by_group") or {}
    cells = grouped.get(metric) or [None] * len(sizes)
    images = entry.get("n_images", pair.get("n_images"))
    lines.append("| " + " | ".join([_member_cell(pair, baseline)] + [
        _results_cell(cell, baseline, images, metric) for cell in cells]) + " |")
  return "\n".join(_with_coverage_note(lines)) + "\n"


def paired_table(paired: Mapping[str, Any], metric: str = "p_top1_change",
                 protocols: Optional[Sequence[str]] = None) -> str:
  """RESULTS.md's compact table of one metric (module docstring) over `protocols` (default:
  every protocol of the first pair, in its order).

  Raises:
    ValueError: no pairs, or an unknown metric or protocol (the message lists the valid ones).
  """
  pairs = _pairs_and_metric(paired, metric)
  available = list(pairs[0]["protocols"])
  chosen = list(protocols) if protocols else available
  unknown = [name for name in chosen if name not in available]
  if unknown:
    raise ValueError(f"unknown protocol(s) {unknown}; paired.json has {available}")

  def images(name: str) -> str:
    count = pairs[0]["protocols"][name].get("n_images")
    return f" ({count} images)" if count else ""

  accuracy = TEST_SET if all(TEST_SET in pair for pair in pairs) else CLEAN
  def accuracy_count(pair: Mapping[str, Any]) -> Optional[int]:
    return pair[TEST_SET].get("n_images") if accuracy == TEST_SET else pair.get("n_images")

  accuracy_images = accuracy_count(pairs[0])
  header = ["member", ACCURACY_TITLES[accuracy] + f" ({accuracy_images} images)"]
  header += [f"{name}{images(name)}" for name in chosen]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for index, pair in enumerate([pairs[0]] + list(pairs)):
    baseline = index == 0
    row = [_member_cell(pair, baseline),
           _results_cell(pair[accuracy], baseline, accuracy_count(pair), "accuracy")]
    for name in chosen:
      protocol = pair["protocols"].get(name)
      row.append(_results_cell(
          None if protocol is None else protocol["metrics"].get(metric), baseline,
          None if protocol is None else protocol.get("n_images", pair.get("n_images")),
          metric))
    lines.append("| " + " | ".join(row) + " |")
  return "\n".join(_with_coverage_note(lines)) + "\n"
