"""`train_and_evaluate(config, workdir)`: a whole run, resumable from its workdir.

Trains (training.train_loop.train: checkpoints, metrics, summary.json), then, when
`config.eval.run_after_training` is set, evaluates the latest checkpoint under every configured
invariance protocol (evaluate.run.evaluate_workdir: `workdir/eval/`). The eval config is
checked before training starts, so that a typo in it fails at once, not after hours of training.
The workdir's lock (runtime.workdir_lock) is held throughout: a second run on the same workdir
stops at once, naming this one.
This module sits above training/ and evaluate/, which do not import each other.
"""
from __future__ import annotations

from typing import Any

import ml_collections

from evaluate.config import check_eval_config
from evaluate.run import evaluate_workdir
from runtime import shared_workdir, workdir_lock
from training.train_loop import train


def runs_invariance_eval(config: ml_collections.ConfigDict) -> bool:
  """Whether `config` asks for the invariance evaluation after training."""
  return "eval" in config and bool(config.eval.run_after_training)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains `config.model` on CIFAR-10, then evaluates it if `config.eval` asks for it.

  Writes `config.json`, `metrics.jsonl`, `checkpoints/`, `summary.json` and (evaluation)
  `eval/` into `workdir`; a rerun resumes from the latest checkpoint.

  Returns:
    The training summary dict (also written as summary.json).
  Raises:
    ValueError (incl. UnknownNameError) for a bad eval config before any training;
    runtime.workdir_lock.WorkdirLockedError: another live run holds the workdir;
    whatever training.train_loop.train raises (TrainingDivergedError, DataError, ...).
  """
  evaluate_after = runs_invariance_eval(config)
  if evaluate_after:
    check_eval_config(config.eval)
  with workdir_lock.hold(workdir):
    shared_workdir.check_shared(workdir)  # several processes: all see process 0's files
    summary = train(config, workdir)
    if evaluate_after:
      evaluate_workdir(workdir, config.eval)
  return summary
