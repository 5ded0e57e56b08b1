"""Preemption: SIGTERM (what SLURM, Kubernetes and spot instances send before they kill a job)
asks the run to save at its next step and stop.

  with preemption.watch() as notice:       # in the training loop, once per train step:
    if notice.reached(step): ...save, then raise Preempted(step)

One process: a SIGTERM handler (installed while the `with` lasts, from the main thread only;
the previous handler is put back after) sets a flag; `reached(step)` is True at the first step
after the signal. Several processes (jax.distributed initialised): JAX's preemption sync
manager already catches SIGTERM on every host (and the preemption notices of Cloud TPU, which
orbax's CheckpointManager.reached_preemption also reads); `reached(step)` is
jax.experimental.multihost_utils.reached_preemption_sync_point(step), which is True on every
process at the same step (the largest step any process has reached, plus one), so they all
save the same step. Every process must call `reached` at every step (a collective protocol).

A preempted command exits with PREEMPTED_EXIT_STATUS (143 = 128 + SIGTERM, what a process
killed by SIGTERM reports): the job did not finish, so a Kubernetes Job retries it and SLURM
does not record it as COMPLETED, while the message says that the run saved and will resume.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
import jax

# 128 + signal number: the shell's status of a process that SIGTERM ended.
PREEMPTED_EXIT_STATUS = 128 + signal.SIGTERM


class Preempted(Exception):
  """The run saved checkpoint `step` after a preemption notice (SIGTERM) and stopped."""

  def __init__(self, step: int, workdir: str):
    super().__init__(f"preempted (SIGTERM): saved checkpoint {step} in {workdir} and stopped; "
                     "rerun the same command to resume from it")
    self.step, self.workdir = step, workdir


class PreemptionNotice:
  """Whether a preemption notice has arrived, asked once per train step (see the module)."""

  def __init__(self, multiprocess: bool):
    self.multiprocess = multiprocess
    self._signalled = threading.Event()

  def signal(self) -> None:
    """Records a notice (the SIGTERM handler's work; tests may call it)."""
    self._signalled.set()

  def reached(self, step: int) -> bool:
    """Whether to save and stop after train step `step` (1-based; every process agrees)."""
    if self.multiprocess:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      return multihost_utils.reached_preemption_sync_point(step)
    return self._signalled.is_set()


def _multiprocess_with_sync_manager() -> bool:
  if not jax.distributed.is_initialized():
    return False
  from jax._src import distributed  # pylint: disable=g-import-not-at-top
  return distributed.global_state.preemption_sync_manager is not None


@contextlib.contextmanager
def watch() -> Iterator[PreemptionNotice]:
  """A PreemptionNotice fed by SIGTERM while the `with` lasts (see the module docstring).

  Off the main thread (where Python cannot install signal handlers) a single process gets a
  notice that only `signal()` sets.
  """
  notice = PreemptionNotice(_multiprocess_with_sync_manager())
  install = (not notice.multiprocess
             and threading.current_thread() is threading.main_thread())
  previous = signal.signal(signal.SIGTERM, lambda signum, frame: notice.signal()) if install \
      else None
  try:
    yield notice
  finally:
    if install:  # (None: a handler not set from Python; the default is the closest)
      signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
