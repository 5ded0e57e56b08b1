"""Several processes (hosts) as one run: joining them, keeping them in step, stopping them together.

Every command (train.py, sweep.py, python -m evaluate, python -m evaluate.layers) runs its work
through `run_command(settings, body)`. With multi-host settings it first joins the other
processes (`jax.distributed.initialize`: auto-detected on Cloud TPU, SLURM, Open MPI,
Kubernetes, ..., or an explicit coordinator address, process count and process id); without
them it only runs `body`, exactly as before.

In a run of several processes:
- **Failures stop every process.** An exception (or a `sys.exit` with an error) on any process
  is posted, with its message, to the key-value store of JAX's coordination service, and that
  process exits with status 1. A watchdog thread in every process polls the store (every
  WATCHDOG_POLL_S seconds); when another process has posted a failure it prints
  "error: process P of N failed, so ... stops too. Its error: <its message>" and exits with
  status 1 too, even while the main thread waits in a collective that will never complete
  (gloo on CPU notices a vanished peer; NCCL and TPU collectives wait). A process that dies
  without posting anything (SIGKILL, out of memory, a lost node) is caught by the coordination
  service's own heartbeat check (JAX default: 100 s), which terminates the others.
- **Decisions are made once.** `broadcast_from_main(what, fn)` runs `fn` on process 0 only
  (e.g. taking the workdir's lock, choosing the next sweep member, the checkpoint steps there
  are) and hands its JSON-able result to every process; `gather_outcomes(what, error)` is an
  agreement step where every process reports whether a piece of work failed (e.g. a sweep
  member, a checkpoint read: runtime/checkpoint_agreement.py), so that all of them take the
  same branch afterwards. An error all of them then raise together is an `AgreedError`: the
  commands stop every process with one message (`exit_for_user_error`).
- **Outputs leave the device whole.** `fetch(tree)` brings jax.Arrays to the host as NumPy
  arrays on every process; an array sharded over the devices of several processes is gathered
  first (its shards on the other hosts are not addressable here).
- **Files** are written by process 0 only (`is_main_process()`), each through
  common.atomic_files; the other processes write nothing into a workdir.

The key-value store is reached through jax._src.distributed (JAX has no public handle on it);
this module is tested against the pinned jax (tests/test_multihost.py).
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Optional, TypeVar

import jax
import numpy as np

from common.errors import UserError

# Environment variables read for the explicit settings when no flag gives them (the first is
# also JAX's own name for it).
ADDRESS_ENV = "JAX_COORDINATOR_ADDRESS"
NUM_PROCESSES_ENV = "JAX_NUM_PROCESSES"
PROCESS_ID_ENV = "JAX_PROCESS_ID"
# Seconds between two looks of the watchdog at the key-value store.
WATCHDOG_POLL_S = 0.5
# Seconds between two looks of a process waiting for another process's key.
WAIT_POLL_S = 0.05
# Seconds process 0 (which hosts the coordination service: the others lose it when it exits)
# waits for the other processes to leave before it exits after a failure.
EXIT_GRACE_S = 15.0
# Key prefix of this module in the coordination service's key-value store.
_NAMESPACE = "cifar_invariance"

T = TypeVar("T")


class HostSetupError(UserError, ValueError):
  """The multi-host settings are incomplete or wrong, or JAX could not join the processes."""


class PeersNotRespondingError(RuntimeError):
  """Other processes did not reach an agreement step in time (they are stuck or gone)."""


class AgreedExit(SystemExit):
  """`sys.exit(message)` for an outcome every process of a multi-host run has agreed on (e.g.
  a sweep's failed members, known to all after gather_outcomes): every process raises it at
  the same point, and they leave together with `status` (default 1), process 0 printing the
  message, instead of stopping each other as for a failure. Alone, it prints the message and
  exits with `status` (run_command).

  Attributes:
    message: what process 0 prints (stderr).
    status: the exit status of every process.
  """

  def __init__(self, message: str, status: int = 1):
    super().__init__(message)
    self.message, self.status = message, status


class AgreedError(Exception):
  """Mixin of an error that every process of a multi-host run raises at the same point, after
  they agreed on it (e.g. no checkpoint that every process can read): a command turns it into
  an AgreedExit (`exit_for_user_error`), so the processes stop together with one message."""


def exit_for_user_error(error: Exception) -> SystemExit:
  """The exit of a command for one of the project's own errors (common.errors.UserError):
  `error: <message>`, status 1; an AgreedExit (process 0 alone prints it) for an AgreedError.
  Usage: `raise hosts.exit_for_user_error(error) from None`."""
  if isinstance(error, AgreedError):
    return AgreedExit(f"error: {error}")
  return SystemExit(f"error: {error}")


@dataclasses.dataclass(frozen=True)
class HostSettings:
  """How a command joins the other processes of its run.

  Attributes:
    multihost: join them (jax.distributed.initialize()); the three fields below, where None,
      are auto-detected by JAX (Cloud TPU, SLURM, Open MPI, Kubernetes, ...).
    coordinator_address: 'HOST:PORT' of process 0 (its coordination service listens there).
    num_processes: the number of processes of the run.
    process_id: this process's index in 0 .. num_processes - 1.
  """
  multihost: bool = False
  coordinator_address: Optional[str] = None
  num_processes: Optional[int] = None
  process_id: Optional[int] = None

  @classmethod
  def resolve(cls, multihost: bool = False, coordinator_address: Optional[str] = None,
              num_processes: Optional[int] = None, process_id: Optional[int] = None,
              environ: Optional[Mapping[str, str]] = None) -> "HostSettings":
    """The settings of the command-line flags, completed from the environment.

    An explicit value (coordinator_address, num_processes, process_id) given as an argument
    implies `multihost`. With `multihost`, values still missing are read from
    JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID when set (the environment
    alone does not turn multi-host on), and JAX auto-detects whatever is still missing.

    Raises:
      HostSetupError: a count or id in the environment is not an integer, or out of range.
    """
    environ = os.environ if environ is None else environ
    multihost = bool(multihost) or any(
        value is not None for value in (coordinator_address, num_processes, process_id))
    if multihost:
      coordinator_address = coordinator_address or environ.get(ADDRESS_ENV) or None
      num_processes = (num_processes if num_processes is not None
                       else _int_from_env(environ, NUM_PROCESSES_ENV))
      process_id = process_id if process_id is not None else _int_from_env(environ,
                                                                           PROCESS_ID_ENV)
    settings = cls(multihost, coordinator_address, num_processes, process_id)
    settings.check()
    return settings

  def check(self) -> None:
    """Raises HostSetupError for an impossible count or id."""
    if self.num_processes is not None and self.num_processes < 1:
      raise HostSetupError(f"--num_processes must be >= 1, got {self.num_processes}")
    if self.process_id is not None and self.process_id < 0:
      raise HostSetupError(f"--process_id must be >= 0, got {self.process_id}")
    if (self.num_processes is not None and self.process_id is not None
        and self.process_id >= self.num_processes):
      raise HostSetupError(f"--process_id={self.process_id} must be below --num_processes="
                           f"{self.num_processes}")
    if self.coordinator_address is not None and ":" not in self.coordinator_address:
      raise HostSetupError(f"--coordinator_address must be HOST:PORT, got "
                           f"{self.coordinator_address!r}")


def _int_from_env(environ: Mapping[str, str], name: str) -> Optional[int]:
  value = environ.get(name)
  if value is None or value == "":
    return None
  try:
    return int(value)
  except ValueError:
    raise HostSetupError(f"${name} must be an integer, got {value!r}") from None


# --- joining ----------------------------------------------------------------------------------


_NO_CLUSTER_HINT = (
    "JAX found no cluster environment to join (it detects Cloud TPU, SLURM, Open MPI, "
    "Kubernetes and mpi4py). On plain machines give the coordinator explicitly: "
    "--coordinator_address=HOST:PORT (process 0's host, a free port) --num_processes=N "
    f"--process_id=I on each process, or ${ADDRESS_ENV}, ${NUM_PROCESSES_ENV}, "
    f"${PROCESS_ID_ENV}.")


def join(settings: HostSettings) -> bool:
  """Joins the other processes of the run when `settings.multihost`; returns whether it did.

  Must come before anything initialises a JAX backend. Starts the watchdog thread when the
  run has more than one process.

  Raises:
    HostSetupError: JAX could not work out or use the settings (the message says what to give).
  """
  if not settings.multihost:
    return False
  given = {key: value for key, value in (
      ("coordinator_address", settings.coordinator_address),
      ("num_processes", settings.num_processes),
      ("process_id", settings.process_id)) if value is not None}
  try:
    jax.distributed.initialize(**given)
  except (ValueError, TypeError) as error:
    # e.g. "coordinator_address should be defined." when nothing was detected
    hint = f" {_NO_CLUSTER_HINT}" if "should be defined" in str(error) else ""
    raise HostSetupError(f"--multihost: {error}{hint}") from None
  except RuntimeError as error:
    raise HostSetupError(f"--multihost: jax.distributed.initialize() failed: {error}") from None
  if jax.process_count() > 1:
    _Watchdog().start()
  return True


def is_main_process() -> bool:
  """Whether this is process 0: the one that prints progress and writes files."""
  return jax.process_index() == 0


def is_multiprocess() -> bool:
  """Whether the run has several processes (joined with jax.distributed). Does not start a
  JAX backend when jax.distributed was never initialised (one process)."""
  return jax.distributed.is_initialized() and jax.process_count() > 1


def describe() -> str:
  """'process I of N on host H', for messages."""
  return f"process {jax.process_index()} of {jax.process_count()} on host {socket.gethostname()}"


# --- outputs --------------------------------------------------------------------------------


def _to_numpy(value):
  if (isinstance(value, jax.Array) and not value.is_fully_addressable
      and not value.is_fully_replicated):
    # Sharded over the devices of several processes: gathered (an all-gather every process
    # takes part in) into a full copy on every process.
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    return np.asarray(multihost_utils.process_allgather(value, tiled=True))
  return np.asarray(value)


def fetch(tree):
  """`tree` with every array as a host NumPy array of its whole (global) value.

  For use where outputs leave the device. An array sharded over the devices of several
  processes is gathered first; every process must call this for such an array (it is a
  collective). Fully addressable or replicated arrays are copied as np.asarray does.
  """
  return jax.tree.map(_to_numpy, tree)


# --- the key-value store: broadcast, agreement, failure --------------------------------------


def _client():
  from jax._src import distributed  # pylint: disable=g-import-not-at-top
  client = distributed.global_state.client
  if client is None:
    raise RuntimeError("jax.distributed is not initialised")
  return client


class _Sequence:
  """Numbers the agreement steps: every process makes the same steps in the same order, so the
  n-th step has the same key everywhere."""

  def __init__(self):
    self._lock = threading.Lock()
    self._next = 0

  def take(self) -> int:
    with self._lock:
      number = self._next
      self._next += 1
      return number


_STEPS = _Sequence()


def _try_get(client, key: str) -> Optional[str]:
  try:
    return client.key_value_try_get(key)
  except Exception:  # pylint: disable=broad-except  (NOT_FOUND is an XlaRuntimeError)
    return None


def _wait_for(client, key: str, timeout_s: Optional[float]) -> Optional[str]:
  """The value of `key` once some process has set it; None after `timeout_s` (None: no limit;
  the watchdog ends this process if another one fails meanwhile)."""
  deadline = None if timeout_s is None else time.monotonic() + timeout_s
  while True:
    value = _try_get(client, key)
    if value is not None:
      return value
    if deadline is not None and time.monotonic() > deadline:
      return None
    time.sleep(WAIT_POLL_S)


def broadcast_from_main(what: str, fn: Callable[[], T]) -> T:
  """Runs `fn()` on process 0 only and returns its result on every process.

  The result must be JSON-able (it travels through the key-value store). Every process must
  call this at the same point of its work (`what` names the step; a mismatch between
  processes is an error). An exception in `fn` propagates on process 0 and ends the run
  through run_command (the others are stopped by their watchdog).
  """
  if not is_multiprocess():
    return fn()
  client = _client()
  key = f"{_NAMESPACE}/broadcast/{_STEPS.take()}"
  if is_main_process():
    value = fn()
    client.key_value_set(key, json.dumps({"what": what, "value": value}))
    return value
  posted = json.loads(_wait_for(client, key, None))
  if posted["what"] != what:
    raise RuntimeError(f"the processes are out of step: process 0 is at {posted['what']!r}, "
                       f"{describe()} at {what!r}")
  return posted["value"]


def gather_outcomes(what: str, error: Optional[str],
                    timeout_s: Optional[float] = None) -> dict[int, Optional[str]]:
  """Agreement step: every process reports `error` (None: its part of the work succeeded) and
  gets every process's report, {process index: error or None}, in the order in which the
  processes arrived here (the first to fail is usually the cause of the others' failures).

  timeout_s: how long to wait for the others (None: no limit). A process that failed while
    the others still compute would otherwise wait for ever if they are stuck in a collective
    that needs it; it passes a limit and, when the others do not arrive, stops the run.
  Raises:
    PeersNotRespondingError: some process did not report within timeout_s.
  """
  if not is_multiprocess():
    return {0: error}
  client = _client()
  prefix = f"{_NAMESPACE}/agree/{_STEPS.take()}"
  arrival = client.key_value_increment(f"{prefix}/arrivals", 1)
  client.key_value_set(f"{prefix}/{jax.process_index()}",
                       json.dumps({"what": what, "error": error, "arrival": arrival}))
  outcomes, arrivals = {}, {}
  deadline = None if timeout_s is None else time.monotonic() + timeout_s
  for process in range(jax.process_count()):
    left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
    posted = _wait_for(client, f"{prefix}/{process}", left)
    if posted is None:
      missing = [p for p in range(process, jax.process_count())
                 if _try_get(client, f"{prefix}/{p}") is None]
      raise PeersNotRespondingError(
          f"{what}: process(es) {', '.join(map(str, missing))} did not report within "
          f"{timeout_s:.0f}s (stuck in a computation that needs this one, or gone)")
    posted = json.loads(posted)
    if posted["what"] != what:
      raise RuntimeError(f"the processes are out of step: process {process} is at "
                         f"{posted['what']!r}, {describe()} at {what!r}")
    outcomes[process], arrivals[process] = posted["error"], posted["arrival"]
  return {process: outcomes[process] for process in sorted(outcomes, key=arrivals.get)}


def _failed_key(process: int) -> str:
  return f"{_NAMESPACE}/failed/{process}"


def _exited_key(process: int) -> str:
  return f"{_NAMESPACE}/exited/{process}"


_exiting = threading.Lock()


def _exit_now(status: int) -> None:
  """Leaves at once (os._exit: no JAX shutdown barrier, which would wait for processes that
  will never arrive). Process 0 first waits up to EXIT_GRACE_S for the others to leave, since
  they lose the coordination service (and with it the message) when it goes."""
  if not _exiting.acquire(blocking=False):  # another thread is already leaving
    while True:
      time.sleep(1)
  sys.stdout.flush()
  sys.stderr.flush()
  try:
    client = _client()
    client.key_value_set(_exited_key(jax.process_index()), "1")
    if is_main_process():
      deadline = time.monotonic() + EXIT_GRACE_S
      for process in range(1, jax.process_count()):
        while (_try_get(client, _exited_key(process)) is None
               and time.monotonic() < deadline):
          time.sleep(WAIT_POLL_S)
  except Exception:  # pylint: disable=broad-except  (the service may be gone already)
    pass
  os._exit(status)  # pylint: disable=protected-access


def fail_everywhere(message: str, status: int = 1) -> None:
  """Posts `message` as this process's failure (the other processes' watchdogs stop them,
  printing it) and exits this process with `status`. Does not return."""
  try:
    _client().key_value_set(_failed_key(jax.process_index()), json.dumps({"message": message}))
  except Exception:  # pylint: disable=broad-except  (the service may be gone already)
    pass
  _exit_now(status)


class _Watchdog(threading.Thread):
  """Stops this process when another process of the run has posted a failure."""

  def __init__(self):
    super().__init__(name="multihost-watchdog", daemon=True)

  def run(self) -> None:
    client, me = _client(), jax.process_index()
    prefix = f"{_NAMESPACE}/failed/"
    while True:
      try:
        posted = client.key_value_dir_get(prefix)
      except Exception:  # pylint: disable=broad-except  (service gone: JAX ends the process)
        posted = []
      for key, value in sorted(posted):
        process = int(key.rsplit("/", 1)[-1])
        if process != me and not _exiting.locked():  # (this process may be failing itself)
          print(f"error: process {process} of {jax.process_count()} failed, so {describe()} "
                f"stops too. Its error:\n{json.loads(value)['message']}", file=sys.stderr)
          _exit_now(1)
      time.sleep(WATCHDOG_POLL_S)


# --- commands -------------------------------------------------------------------------------


def run_command(settings: HostSettings, body: Callable[[], T]) -> T:
  """Runs a command's `body` on this process, joined with the others when `settings` ask.

  One process: `body()`; an AgreedExit prints its message and exits with its status. Several
  processes: an exception or an error exit
  (`sys.exit("error: ...")`: status 1; `sys.exit(N)`: status N) in `body` prints its message
  here and stops every process of the run (the others with status 1; see the module
  docstring); after a normal end, the processes wait for each other (process 0 may still be
  writing files) before they exit.

  Raises:
    HostSetupError: from join().
  """
  if not join(settings) or not is_multiprocess():
    try:
      return body()
    except AgreedExit as exit_:
      print(exit_.message, file=sys.stderr)
      raise SystemExit(exit_.status) from None
  try:
    result = body()
  except AgreedExit as exit_:
    if is_main_process():
      print(exit_.message, file=sys.stderr)
    _finish()
    raise SystemExit(exit_.status) from None  # (printed already)
  except SystemExit as exit_:
    if exit_.code in (None, 0):
      _finish()
      raise
    if isinstance(exit_.code, int):
      fail_everywhere(f"exit status {exit_.code} ({describe()})", exit_.code)
    print(exit_.code, file=sys.stderr)  # what sys.exit(message) prints
    fail_everywhere(f"{exit_.code} ({describe()})")
  except BaseException as error:  # pylint: disable=broad-except  (KeyboardInterrupt too)
    traceback.print_exc()
    fail_everywhere(f"{type(error).__name__}: {error} ({describe()})")
  _finish()
  return result


def _finish() -> None:
  """The last agreement step of a command: no process leaves (into JAX's shutdown barrier,
  which gives up after shutdown_timeout_seconds) while another still works."""
  gather_outcomes("end of the command", None)
