"""Multiple comparisons: Holm's step-down adjustment of paired.json's verdicts within families.

A paired.json (evaluate.stats.paired.compare_runs) holds many paired tests at the same
confidence; each entry's `distinguishable` is its own test, unadjusted. `adjust` groups the
entries into declared families and adjusts each family's p-values (evaluate.stats.bootstrap.
interval_p_value: the smallest alpha at which the entry's interval would exclude 0) with Holm's
method, which keeps the family-wise error (the chance of calling at least one null difference
of the family distinguishable) at most alpha = 1 - confidence under any dependence between
the entries. Families ("vs" is "members vs baseline" with a baseline, else "all pairs"):

  "<metric>: all protocols x <vs>"        one table of RESULTS.md: one metric of
                                          MEAN_METRICS, every protocol, every pair
  "clean_accuracy: <vs>", "test_set_accuracy: <vs>"   the accuracy columns, every pair
  "<metric> of <protocol> per size: sizes x <vs>"     per-size entries ("by_group"): one
                                          family per (protocol, metric) across sizes x pairs

Each entry gains (beside its unadjusted `distinguishable` and `p_value`):
  p_adjusted                the Holm-adjusted p-value within its family
  distinguishable_adjusted  distinguishable and p_adjusted < alpha (after adjustment)
  family                    the family's name (above)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

METHOD = ("Holm's step-down adjustment within each family (evaluate/stats/multiplicity.py); "
          "p-value: the smallest alpha at which the entry's interval, built the same way at "
          "confidence 1 - alpha, excludes 0 (evaluate/stats/bootstrap.py)")
ACCURACIES = ("clean_accuracy", "test_set_accuracy")


def holm(p_values: Sequence[float]) -> np.ndarray:
  """Holm-adjusted p-values, in the given order: with p_(1) <= ... <= p_(m) sorted,
  adjusted p_(j) = max over i <= j of min(1, (m - i + 1) p_(i)). Rejecting where the adjusted
  p-value is below alpha is Holm's step-down test at family-wise level alpha."""
  p = np.asarray(p_values, np.float64)
  order = np.argsort(p, kind="stable")
  scaled = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
  adjusted = np.empty(len(p))
  adjusted[order] = np.maximum.accumulate(scaled)
  return adjusted


def _protocol_families(name: str, protocol: Mapping[str, Any], versus: str,
                       out: dict[str, list[dict]]) -> None:
  """Adds one protocol's pooled and per-size entries of a pair to their families."""
  for metric, entry in protocol["metrics"].items():
    out.setdefault(f"{metric}: all protocols x {versus}", []).append(entry)
  for metric, entries in (protocol.get("by_group") or {}).items():
    if metric == "groups":
      continue
    for entry in entries:
      if entry:
        out.setdefault(f"{metric} of {name} per size: sizes x {versus}", []).append(entry)


def families(comparison: Mapping[str, Any]) -> dict[str, list[dict]]:
  """Family name (module docstring) -> the entries of comparison["pairs"] in it (the dicts
  themselves, in pair order)."""
  versus = "members vs baseline" if comparison.get("baseline") else "all pairs"
  out: dict[str, list[dict]] = {}
  for pair in comparison["pairs"]:
    for key in ACCURACIES:
      if pair.get(key):
        out.setdefault(f"{key}: {versus}", []).append(pair[key])
    for name, protocol in pair["protocols"].items():
      _protocol_families(name, protocol, versus, out)
  return out


def adjust(comparison: Mapping[str, Any], alpha: float) -> dict[str, Any]:
  """Writes p_adjusted, distinguishable_adjusted and family into every entry of `comparison`
  (a compare_runs dict whose entries have p_value), in place; returns what paired.json keeps
  under "multiplicity": {"method", "alpha", "families": {name: number of entries}}."""
  grouped = families(comparison)
  for name, entries in grouped.items():
    adjusted = holm([entry["p_value"] for entry in entries])
    for entry, p in zip(entries, adjusted):
      entry["p_adjusted"] = float(p)
      entry["distinguishable_adjusted"] = bool(entry["distinguishable"] and p < alpha)
      entry["family"] = name
  return {"method": METHOD, "alpha": alpha,
          "families": {name: len(entries) for name, entries in grouped.items()}}
