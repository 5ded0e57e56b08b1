"""One metric of a sweep's paired comparisons as a compact markdown table (RESULTS.md's tables).

  python -m scripts.paired_table runs/fig11/paired.json
  python -m scripts.paired_table runs/beyond/paired.json --metric=worst_case_accuracy \
      --protocols=circular,shift_attack
  python -m scripts.paired_table results/augment_range_trained/paired.json --by_size=embed_black

Reads the paired.json that `sweep.py --collect --baseline=<member>` (or `python -m
evaluate.compare --baseline=...`) writes and prints one row per member (with its number of
seeds), one column per protocol: the baseline's value with its 95% interval, and for every
other member its value and its paired difference from the baseline, B - A [95% interval]
(hierarchical bootstrap over seeds and images, evaluate/stats/bootstrap.py). A difference whose
interval excludes 0 is printed in bold (in a paired.json with Holm's adjustment,
evaluate.stats.multiplicity: bold where it is distinguishable after the adjustment within its
family, "†" where only before it); one whose interval holds 0 is marked "≈"
(indistinguishable on this evidence, not ranked). The first column is the accuracy on the
untransformed evaluated images, paired the same way (on the whole test set where the
evaluations recorded it). With --by_size=<protocol>, one row per member and one column per size
of that protocol (embed_black, embed_scale), cells as above. Nothing is recomputed: every number is
paired.json's. The table is rendered by evaluate.paired_tables.paired_table, the renderer of
every paired table (paired.md, a sweep's summary.md); this is its command line.

Exit status 0; 2 for a missing or unreadable file, or an unknown metric or protocol (the
message lists the valid ones).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Optional

from evaluate.paired_tables import paired_table, size_table


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("paired_json", help="a paired.json (sweep.py --collect --baseline=...)")
  parser.add_argument("--metric", default="p_top1_change",
                      help="a metric of paired.json (default p_top1_change)")
  parser.add_argument("--protocols", default="",
                      help="comma-separated protocol names (default: all, in file order)")
  parser.add_argument("--by_size", default="",
                      help="a protocol with sizes: its metric per size instead (one column "
                      "per size)")
  args = parser.parse_args(argv)
  try:
    with open(args.paired_json) as f:
      paired = json.load(f)
    protocols = [name for name in args.protocols.split(",") if name]
    sys.stdout.write(size_table(paired, args.by_size, args.metric) if args.by_size
                     else paired_table(paired, args.metric, protocols or None))
  except (OSError, ValueError, KeyError) as error:
    print(f"error: {args.paired_json}: {error}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
