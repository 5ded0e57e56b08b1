"""Analyses inside a trained network; results in WORKDIR/eval/layers/.

  python -m evaluate.layers --workdir runs/nostride
  python -m evaluate.layers --workdir runs/x --config.analyses=shiftability,alignment \\
      --config.num_images=100 --config.shiftability.mode=crop
  python -m evaluate.layers --workdir runs/x --config my_layers_config.py --data_dir DIR
  python -m evaluate.layers --compare runs/a,runs/b --out_dir runs/compare_layers
  python -m evaluate.layers --workdir /shared/runs/x --multihost   # on every host of a slice

The config is evaluate/layers/config.py (or --config FILE with get_config()); every field can
be overridden with --config.FIELD=VALUE. --compare draws the per-layer curves of several
workdirs' earlier results (their eval/layers/layers.json) on one figure each.
The project's own errors (common.errors.UserError: no checkpoint, unknown analysis, bad
option) print a one-line message and exit with 1; any other exception keeps its traceback.
The workdir's lock is held shared (runtime/workdir_lock.py): not while a run trains there.
With --multihost (cifar_invariance/host_flags.py) every process of a multi-host run takes part
in the computations and process 0 writes the results.
"""
import os
import sys

from absl import app, flags
from absl import logging as absl_logging

from cifar_invariance import host_flags, startup

_DEFAULT_CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.py")

_CONFIG = startup.define_config_file(
    "config", _DEFAULT_CONFIG_FILE, "Layers config file (get_config()); default "
    "evaluate/layers/config.py.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The training run to analyse; results go to "
                               "WORKDIR/eval/layers/.")
_COMPARE = flags.DEFINE_list("compare", None, "Instead of analysing: workdirs whose "
                             "eval/layers/layers.json are drawn together (needs --out_dir).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Read CIFAR-10 from this directory instead "
                                "of where the run was trained from (WORKDIR/data_location.json;"
                                " $CIFAR10_DIR, if set, comes first: docs/data.md).")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Write the results here instead of "
                               "WORKDIR/eval/layers/.")
flags.adopt_module_key_flags(host_flags)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  absl_logging.set_verbosity(absl_logging.WARNING)
  host_flags.run(_analyse)


def _analyse():
  from common.errors import ConfigError, UserError  # pylint: disable=g-import-not-at-top
  from evaluate.layers import compare, runner  # pylint: disable=g-import-not-at-top
  from runtime import hosts, workdir_lock  # pylint: disable=g-import-not-at-top
  from runtime.shared_workdir import check_shared  # pylint: disable=g-import-not-at-top
  try:
    if _COMPARE.value:
      if not hosts.is_main_process():  # only reads and draws files: process 0 alone
        return
      if not _OUT_DIR.value:
        raise ConfigError("--compare needs --out_dir")
      for path in compare.compare_workdirs(_COMPARE.value, _OUT_DIR.value):
        print("wrote", path)
      return
    if not _WORKDIR.value:
      raise ConfigError("--workdir is required (or --compare with --out_dir)")
    check_shared(_WORKDIR.value)
    with workdir_lock.hold(_WORKDIR.value, shared=True):  # not while a run trains there
      runner.analyse_workdir(_WORKDIR.value, _CONFIG.value, data_dir=_DATA_DIR.value,
                             out_dir=_OUT_DIR.value)
  except UserError as error:  # the project's own errors; any other keeps its traceback
    raise hosts.exit_for_user_error(error) from None


if __name__ == "__main__":
  app.run(main, flags_parser=startup.parse_flags)
