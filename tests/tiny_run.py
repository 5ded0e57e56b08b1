"""Runs the tiny test config in a fresh process (for device-count and kill/resume tests).

  python tests/tiny_run.py WORKDIR [--kill-at-step N] [--override key=value ...]

With --kill-at-step N the process SIGKILLs itself when the loop asks to save checkpoint N
(after the earlier checkpoints have finished writing), like a preempted job. Otherwise it
prints one JSON line: the summary plus the final train loss and a digest of the parameters.
"""
import argparse
import hashlib
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from pipeline.train_then_evaluate import train_and_evaluate  # pylint: disable=g-import-not-at-top
from runtime import checkpointing  # pylint: disable=g-import-not-at-top
from tests.conftest import tiny_config  # pylint: disable=g-import-not-at-top


def params_digest(params) -> str:
  """sha256 of every parameter's bytes, in a fixed order: equal iff bitwise equal."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(params):
    digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
  return digest.hexdigest()


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("workdir")
  parser.add_argument("--kill-at-step", type=int, default=None)
  parser.add_argument("--override", nargs="*", default=[])
  args = parser.parse_args()

  config = tiny_config()
  for item in args.override:
    key, value = item.split("=", 1)
    section, field = key.split(".")
    config[section][field] = type(config[section][field])(json.loads(value))

  if args.kill_at_step is not None:
    real_save = checkpointing.save

    def save_or_die(manager, step, state):
      if step == args.kill_at_step:
        manager.wait_until_finished()
        os.kill(os.getpid(), signal.SIGKILL)
      real_save(manager, step, state)

    checkpointing.save = save_or_die

  summary = train_and_evaluate(config, args.workdir)
  tree, step = checkpointing.load_latest(args.workdir)
  with open(os.path.join(args.workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  last_loss = [r["train_loss"] for r in records if "train_loss" in r][-1]
  print(json.dumps({**summary, "checkpoint_step": step, "last_train_loss": last_loss,
                    "params_digest": params_digest(tree["params"])}))


if __name__ == "__main__":
  main()
