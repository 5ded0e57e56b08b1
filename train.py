"""Trains a model on CIFAR-10 from a config file; resumes from --workdir after a crash.

  python train.py --config configs/quickstart.py --workdir runs/quickstart
  python train.py --config configs/nostride.py --workdir runs/nostride --config.train.num_epochs=5
  train --config configs/quickstart.py --workdir runs/quickstart   # installed (pyproject.toml)

Everything is in train_and_evaluate(config, workdir) (pipeline/train_then_evaluate.py); this
file only parses flags, sets up multi-host JAX when asked, and turns known errors into a
message and a non-zero exit status.
"""
import sys

from absl import app, flags
from ml_collections import config_flags

from cifar_invariance import startup

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file with get_config(), e.g. configs/quickstart.py.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints, config.json, metrics.jsonl, summary.json. "
    "Rerunning with the same workdir resumes the run.")
_MULTIHOST = flags.DEFINE_bool(
    "multihost", False, "Call jax.distributed.initialize() first (multi-host GPU/TPU slices).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  from common.entry_point import start_entry_point  # pylint: disable=g-import-not-at-top
  start_entry_point(argv, multihost=_MULTIHOST.value)

  from common.registry import UnknownNameError  # pylint: disable=g-import-not-at-top
  from data import DataError  # pylint: disable=g-import-not-at-top
  from pipeline.train_then_evaluate import train_and_evaluate  # pylint: disable=g-import-not-at-top
  from training.train_loop import TrainingDivergedError  # pylint: disable=g-import-not-at-top
  try:
    train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (UnknownNameError, DataError, ValueError, TrainingDivergedError, OSError) as error:
    sys.exit(f"error: {error}")


if __name__ == "__main__":
  app.run(main, argv=startup.prepare_command_line(sys.argv))
