"""The members of a study folder (results/<study>/, sweep.py --export_to) as a Markdown table.

  python -m scripts.study_table results/augment_range_trained

One row per finished member (its sub-folder's summary.json and sweep_member.json), in the
sweep's order: test accuracy on the whole test set (final_test_accuracy), steps and epochs,
the training's wall time and images per second, and the member's total time in the sweep
(training and evaluation); for a member resumed after an interruption those times are of
its last process, from the step the steps column names. What the study cost and how far each network trained, with nothing
recomputed; RESULTS.md renders it (scripts/render_results.py). Wall times depend on what else
the machine ran; the study's notes say how busy it was.

Exit status 0; 2 for a folder without sweep.json or without a finished member.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Optional

from runtime.progress import format_duration
from runtime.run_files import SUMMARY_FILE
from sweeps.runner import STATUS_FILE, SWEEP_FILE, read_json_or_none


def _steps_cell(summary: dict) -> str:
  """'3900 (10 epochs)', or, for a run resumed after an interruption, the step it resumed
  from: its wall time, images/s and total are then those of the last process only."""
  cell = f"{summary['steps']} ({summary['epochs']:g} epochs)"
  if summary.get("resumed_from_step"):
    cell += f"; times from step {summary['resumed_from_step']} on"
  return cell


def member_rows(folder: str) -> list[list[str]]:
  """A row per finished member of the study in `folder`, in the sweep's member order.

  Raises:
    FileNotFoundError: no readable sweep.json in `folder`.
  """
  sweep = read_json_or_none(os.path.join(folder, SWEEP_FILE))
  if sweep is None:
    raise FileNotFoundError(f"{folder} holds no {SWEEP_FILE} (not a study folder)")
  rows = []
  for member in sweep["members"]:
    directory = os.path.join(folder, member["name"])
    summary = read_json_or_none(os.path.join(directory, SUMMARY_FILE))
    status = read_json_or_none(os.path.join(directory, STATUS_FILE)) or {}
    if summary is None or status.get("state") != "done":
      continue
    rows.append([f"`{member['name']}`", f"{summary['final_test_accuracy']:.4f}",
                 _steps_cell(summary),
                 format_duration(summary["wall_time_sec"]),
                 f"{summary['train_images_per_sec']:.0f}",
                 format_duration(status["seconds"]) if status.get("seconds") else "n/a"])
  return rows


def study_table(folder: str) -> str:
  """The Markdown table (module docstring).

  Raises:
    FileNotFoundError: not a study folder. ValueError: no finished member.
  """
  rows = member_rows(folder)
  if not rows:
    raise ValueError(f"{folder}: no finished member yet")
  header = ["member", "test accuracy (10,000 images)", "steps", "training wall time",
            "training images/s", "member total (train + evaluate)"]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("folder", help="a study folder, results/<study>")
  args = parser.parse_args(argv)
  try:
    sys.stdout.write(study_table(args.folder))
  except (OSError, ValueError, KeyError) as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
