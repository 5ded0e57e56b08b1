"""Time to a target test accuracy, read from a finished (or running) run's metrics.jsonl.

  python -m benchmarks.time_to_accuracy --workdir runs/fast_r18 --target=0.94

Training time is the sum, over the logged intervals up to the first evaluation at or above
the target, of the interval's images / its images_per_sec: the time spent in train steps,
without the evaluations (the training loop's timer excludes them), without compiling and
loading the data (summary.json's wall_time_sec includes those; both are printed). Prints
one JSON line: target, reached (bool), epoch and step of the first evaluation at or above
the target, train_seconds to it, best test accuracy, wall_time_sec.
"""
from __future__ import annotations

import json
import os
import sys

from absl import app, flags



def _define_flags() -> None:
  """The command's flags (defined when run as a program only, so that tests can import
  time_to_accuracy beside other modules' flags)."""
  flags.DEFINE_string("workdir", None, "The run's workdir.")
  flags.DEFINE_float("target", 0.94, "Target test accuracy.")
  flags.mark_flag_as_required("workdir")


def time_to_accuracy(records: list[dict], target: float, batch_size: int) -> dict:
  """From metrics.jsonl records (in order): the first evaluation reaching `target`.

  Returns:
    {"reached", "epoch", "step", "train_seconds", "best_test_accuracy"}; epoch, step and
    train_seconds are None when the target was not reached.
  """
  seconds, previous_step, best = 0.0, 0, None
  for index, record in enumerate(records):
    if record.get("images_per_sec"):
      images = (record["step"] - previous_step) * batch_size
      seconds += images / record["images_per_sec"]
      previous_step = record["step"]
    accuracy = record.get("test_accuracy")
    if accuracy is None:
      continue
    best = accuracy if best is None else max(best, accuracy)
    if accuracy >= target:
      if record["step"] > previous_step:  # evaluated between two logs: the next log's rate
        rate = next((later["images_per_sec"] for later in records[index + 1:]
                     if later.get("images_per_sec")), None)
        seconds = (seconds + (record["step"] - previous_step) * batch_size / rate
                   if rate else None)
      return {"reached": True, "epoch": record["epoch"], "step": record["step"],
              "train_seconds": seconds, "best_test_accuracy": best}
  return {"reached": False, "epoch": None, "step": None, "train_seconds": None,
          "best_test_accuracy": best}


def main(argv):
  del argv
  workdir, target = flags.FLAGS.workdir, flags.FLAGS.target
  try:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      records = [json.loads(line) for line in f if line.strip()]
    with open(os.path.join(workdir, "config.json")) as f:
      batch_size = int(json.load(f)["train"]["batch_size"])
  except (OSError, ValueError, KeyError) as error:
    sys.exit(f"error: no readable run in {workdir}: {error}")
  result = {"target": target, **time_to_accuracy(records, target, batch_size)}
  try:
    with open(os.path.join(workdir, "summary.json")) as f:
      result["wall_time_sec"] = json.load(f).get("wall_time_sec")
  except (OSError, ValueError):
    result["wall_time_sec"] = None
  print(json.dumps(result))


if __name__ == "__main__":
  _define_flags()
  app.run(main)
