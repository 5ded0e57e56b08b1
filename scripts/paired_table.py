"""One metric of a sweep's paired comparisons as a compact markdown table (RESULTS.md's tables).

  python -m scripts.paired_table runs/fig11/paired.json
  python -m scripts.paired_table runs/beyond/paired.json --metric=worst_case_accuracy \
      --protocols=circular,shift_attack

Reads the paired.json that `sweep.py --collect --baseline=<member>` (or `python -m
evaluate.compare --baseline=...`) writes and prints one row per member (with its number of
seeds), one column per protocol: the baseline's value with its 95% interval, and for every
other member its value and its paired difference from the baseline, B - A [95% interval]
(hierarchical bootstrap over seeds and images, evaluate/bootstrap.py). A difference whose
interval excludes 0 is printed in bold; one whose interval holds 0 is marked "≈"
(indistinguishable on this evidence, not ranked). The first column is the accuracy on the
untransformed evaluated images, paired the same way. Nothing is recomputed: every number is
paired.json's.

Exit status 0; 2 for a missing or unreadable file, or an unknown metric or protocol (the
message lists the valid ones).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from evaluate.paired import format_interval

UNTRANSFORMED = "untransformed accuracy"


DIGITS = 3  # Decimals of every value in the table.


def _difference(result: Mapping[str, Any]) -> str:
  """'0.052, Δ **-0.045 [-0.058, -0.033]**' (interval excludes 0) or '..., Δ -0.004 [-0.044,
  +0.036] ≈' (holds 0)."""
  text = format_interval(result["diff"], result["ci_low"], result["ci_high"], signed=True,
                         digits=DIGITS)
  text = f"**{text}**" if result["distinguishable"] else f"{text} ≈"
  return f"{result['b']:.{DIGITS}f}, Δ {text}"


def _seeds(count: Optional[int]) -> str:
  """'3 seeds', '1 seed', or '' when paired.json does not say."""
  return f"{count} seed{'s' if count != 1 else ''}" if count else ""


def _cell(result: Optional[Mapping[str, Any]], baseline: bool) -> str:
  if result is None:
    return "n/a"
  if baseline:
    return format_interval(result["a"], result["a_ci_low"], result["a_ci_high"],
                           digits=DIGITS)
  return _difference(result)


def paired_table(paired: Mapping[str, Any], metric: str = "p_top1_change",
                 protocols: Optional[Sequence[str]] = None) -> str:
  """The markdown table of module docstring for `metric` over `protocols` (default: every
  protocol of the first pair, in its order).

  Raises:
    ValueError: no pairs, or an unknown metric or protocol (the message lists the valid ones).
  """
  pairs = paired.get("pairs") or []
  if not pairs:
    raise ValueError("paired.json holds no pairs (was the sweep collected with --baseline?)")
  available = list(pairs[0]["protocols"])
  chosen = list(protocols) if protocols else available
  unknown = [name for name in chosen if name not in available]
  if unknown:
    raise ValueError(f"unknown protocol(s) {unknown}; paired.json has {available}")
  metrics = sorted({name for pair in pairs for protocol in pair["protocols"].values()
                    for name in protocol["metrics"]})
  if metric not in metrics:
    raise ValueError(f"unknown metric {metric!r}; paired.json has {metrics}")

  def images(name: str) -> str:
    count = pairs[0]["protocols"][name].get("n_images")
    return f" ({count} images)" if count else ""

  header = ["member", UNTRANSFORMED + f" ({pairs[0]['n_images']} images)"]
  header += [f"{name}{images(name)}" for name in chosen]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  first = pairs[0]
  seeds = _seeds(first.get("n_seeds_a"))
  row = [f"`{first['a']}` (baseline" + (f", {seeds})" if seeds else ")"),
         _cell(first["clean_accuracy"], baseline=True)]
  row += [_cell(first["protocols"][name]["metrics"].get(metric), baseline=True)
          for name in chosen]
  lines.append("| " + " | ".join(row) + " |")
  for pair in pairs:
    seeds = _seeds(pair.get("n_seeds_b"))
    row = [f"`{pair['b']}`" + (f" ({seeds})" if seeds else ""),
           _cell(pair["clean_accuracy"], baseline=False)]
    for name in chosen:
      protocol = pair["protocols"].get(name)
      row.append(_cell(None if protocol is None else protocol["metrics"].get(metric),
                       baseline=False))
    lines.append("| " + " | ".join(row) + " |")
  return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("paired_json", help="a paired.json (sweep.py --collect --baseline=...)")
  parser.add_argument("--metric", default="p_top1_change",
                      help="a metric of paired.json (default p_top1_change)")
  parser.add_argument("--protocols", default="",
                      help="comma-separated protocol names (default: all, in file order)")
  args = parser.parse_args(argv)
  try:
    with open(args.paired_json) as f:
      paired = json.load(f)
    protocols = [name for name in args.protocols.split(",") if name]
    sys.stdout.write(paired_table(paired, args.metric, protocols or None))
  except (OSError, ValueError, KeyError) as error:
    print(f"error: {args.paired_json}: {error}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
