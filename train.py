"""Trains a model on CIFAR-10 from a config file; resumes from --workdir after a crash.

  python train.py --config configs/quickstart.py --workdir runs/quickstart
  python train.py --config configs/nostride.py --workdir runs/nostride --config.train.num_epochs=5
  train --config configs/quickstart.py --workdir runs/quickstart   # installed (pyproject.toml)

Everything is in train_and_evaluate(config, workdir) (pipeline/train_then_evaluate.py); this
file only parses flags, joins the processes of a multi-host run when asked
(cifar_invariance/host_flags.py: --multihost, --coordinator_address, --num_processes,
--process_id), and turns the project's own errors (common.errors.UserError: a bad config, an
unknown name, missing data, a refused resume, a diverged loss, a failed checkpoint write) into
a one-line message and exit status 1; any other exception (e.g. in a model's own code) keeps
its traceback. SIGTERM
saves the next step and exits with status 143 (runtime/preemption.py; docs/multihost.md). A workdir
that another run is writing (its workdir.lock names a live process) is refused at once.
"""
import sys

from absl import app, flags
from ml_collections import config_flags

from cifar_invariance import host_flags, startup

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file with get_config(), e.g. configs/quickstart.py.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints, config.json, metrics.jsonl, summary.json. "
    "Rerunning with the same workdir resumes the run.")
flags.mark_flags_as_required(["config", "workdir"])
flags.adopt_module_key_flags(host_flags)


def main(argv):
  from common.entry_point import start_entry_point  # pylint: disable=g-import-not-at-top
  start_entry_point(argv)
  host_flags.run(_train)


def _train():
  from common.errors import UserError  # pylint: disable=g-import-not-at-top
  from pipeline.train_then_evaluate import train_and_evaluate  # pylint: disable=g-import-not-at-top
  from runtime import hosts, preemption  # pylint: disable=g-import-not-at-top
  from runtime.workdir_lock import WorkdirLockedError  # pylint: disable=g-import-not-at-top
  try:
    train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except preemption.Preempted as stopped:  # every process saved the same step
    raise hosts.AgreedExit(f"stopped: {stopped}", preemption.PREEMPTED_EXIT_STATUS) from None
  except WorkdirLockedError as error:  # every process of a multi-host run learns it together
    raise hosts.AgreedExit(f"error: {error}") from None
  except UserError as error:  # the project's own errors; any other keeps its traceback
    raise hosts.exit_for_user_error(error) from None


if __name__ == "__main__":
  app.run(main, argv=startup.prepare_command_line(sys.argv), flags_parser=startup.parse_flags)
