"""The console commands that `pip install` creates (pyproject.toml [project.scripts]).

  train    = cifar-train     : train.py          (python train.py ...)
  sweep    = cifar-sweep     : sweep.py          (python sweep.py ...)
  evaluate = cifar-evaluate  : evaluate/__main__ (python -m evaluate ...)

Each checks the project's top-level names before importing any of them (a foreign
`evaluate`, `models`, ... is an error with a message saying where it came from), resolves
shipped config paths (`--config configs/quickstart.py` works from any directory), then runs
the module's absl main().
"""
from __future__ import annotations

import importlib
import sys

from cifar_invariance import startup


def _run(module_name: str) -> None:
  argv = startup.prepare_command_line(sys.argv)
  from absl import app, flags  # pylint: disable=g-import-not-at-top
  module = importlib.import_module(module_name)
  # --help shows what `python train.py --help` shows: absl reads the usage text from the
  # __main__ module (here the console-script wrapper) and the flags from the program's name.
  sys.modules["__main__"].__doc__ = module.__doc__
  for flag in flags.FLAGS.get_key_flags_for_module(module_name):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  app.run(module.main, argv=argv, flags_parser=startup.parse_flags)


def train() -> None:
  """`train --config CONFIG --workdir DIR [--config.key=value ...]` (see train.py)."""
  _run("train")


def sweep() -> None:
  """`sweep --config SWEEP_CONFIG --workdir DIR [--list|--index N|--collect]` (see sweep.py)."""
  _run("sweep")


def evaluate() -> None:
  """`evaluate --workdir RUN [--config EVAL_CONFIG] [--config.field=value ...]`."""
  _run("evaluate.__main__")

