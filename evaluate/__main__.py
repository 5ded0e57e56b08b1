"""Evaluates a trained run under the invariance protocols; results in WORKDIR/eval/.

  python -m evaluate --workdir runs/nostride
  python -m evaluate --workdir runs/nostride --config.num_images=200
  python -m evaluate --workdir runs/x --config my_eval_config.py --data_dir /data/cifar10
  evaluate --workdir runs/nostride   # installed (pyproject.toml)
  python -m evaluate --workdir /shared/runs/x --multihost   # on every host of a slice

The eval config is, in order of preference: --config (a file with get_config() returning an
eval config, or a whole run config with an `eval` section, e.g. configs/default.py); else the
run's own config.eval (from its config.json); else evaluate.config.default_eval_config().
--config.FIELD=VALUE overrides a field of whichever is used (the fields and protocol names
that can be overridden on the command line are those of evaluate/config.py).

Everything is in evaluate.run.evaluate_workdir; this file parses flags and turns the project's
own errors (common.errors.UserError: no checkpoint, unknown protocol, bad option, grid too
large) into a one-line message and exit status 1, before any long work starts; any other
exception (e.g. in a model's or protocol's own code) keeps its traceback. The workdir's lock
is held shared (runtime/workdir_lock.py): other evaluations may run at the same time, a
training run there may not. With --multihost (cifar_invariance/host_flags.py) every process
of a multi-host run evaluates its share of each batch and process 0 writes the results.
"""
import os
import sys

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from cifar_invariance import host_flags, startup

_DEFAULT_CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.py")

_CONFIG = startup.define_config_file(
    "config", _DEFAULT_CONFIG_FILE,
    "Eval config file (get_config() -> eval config). Default: the run's config.eval, else "
    "evaluate/config.py.", lock_config=False)
_WORKDIR = flags.DEFINE_string("workdir", None, "The training run to evaluate (train.py's "
                               "--workdir); results go to WORKDIR/eval/.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Evaluate on the CIFAR-10 copy in this directory (image folder tree or "
    "cifar-10-batches-py) instead of where the run was trained from (WORKDIR/"
    "data_location.json; $CIFAR10_DIR, if set, comes first: docs/data.md).")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Write the results here instead of "
                               "WORKDIR/eval/.")
flags.mark_flags_as_required(["workdir"])
flags.adopt_module_key_flags(host_flags)


def _set_field(config, path: str, value) -> None:
  """Sets `config.a.b.c = value` for path 'a.b.c'; the parent fields must exist."""
  *parents, leaf = path.split(".")
  node = config
  for name in parents:
    if name not in node:
      raise ValueError(f"--config.{path}: the eval config has no field {name!r}")
    node = node[name]
  node[leaf] = value


def _chosen_eval_config(run_config):
  """The eval config the flags ask for (see the module docstring); None = run's or default."""
  from evaluate.config import resolve_eval_config  # pylint: disable=g-import-not-at-top
  if flags.FLAGS["config"].present:
    return _CONFIG.value
  base = resolve_eval_config(run_config)
  for path, value in config_flags.get_override_values(flags.FLAGS["config"]).items():
    _set_field(base, path, value)
  return base


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  absl_logging.set_verbosity(absl_logging.WARNING)  # orbax logs every restore at INFO
  host_flags.run(_evaluate)


def _evaluate():
  from common.errors import UserError  # pylint: disable=g-import-not-at-top
  from evaluate.run import evaluate_workdir  # pylint: disable=g-import-not-at-top
  from runtime.run_config import load_run_config  # pylint: disable=g-import-not-at-top
  from runtime import hosts, workdir_lock  # pylint: disable=g-import-not-at-top
  from runtime.shared_workdir import check_shared  # pylint: disable=g-import-not-at-top
  check_shared(_WORKDIR.value)
  try:
    with workdir_lock.hold(_WORKDIR.value, shared=True):  # not while a run trains there
      run_config = load_run_config(_WORKDIR.value)
      evaluate_workdir(_WORKDIR.value, _chosen_eval_config(run_config),
                       data_dir=_DATA_DIR.value, out_dir=_OUT_DIR.value)
  except UserError as error:  # the project's own errors; any other keeps its traceback
    raise hosts.exit_for_user_error(error) from None


if __name__ == "__main__":
  app.run(main, argv=startup.prepare_command_line(sys.argv), flags_parser=startup.parse_flags)
