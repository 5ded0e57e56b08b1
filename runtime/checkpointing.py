"""A run's orbax checkpoints: the train state and the config it was trained with, restored onto
the current device mesh whatever mesh wrote them.

Layout: `WORKDIR/checkpoints/<step>/state/` (the TrainState pytree) and `<step>/config/` (the
whole run config as JSON). Checkpoints written before the config item existed hold only
`<step>/default/` (the state); they are read as checkpoints whose config is unknown (None).

Restoring always goes through an abstract target (shapes, dtypes and the shardings of the
current mesh), never through the shardings recorded in the checkpoint, so a run saved on 8
devices restores on 1 and the other way round, bit for bit (the state is replicated).
If the latest checkpoint cannot be read, the previous kept one is used, with a warning. In a
multi-host run the processes decide that together (runtime/checkpoint_agreement.py): the list
of steps comes from process 0, every read is retried once, and a step is skipped by every
process when any process could not read it, so all of them restore the same step; each reads
through a manager without orbax's device barriers (a barrier reached only by the processes
whose read succeeded would hang the others). Only process 0 moves an unreadable step aside,
after the agreement, and every process learns whether that worked.

Writing (CheckpointWriter) is asynchronous: `save` returns while orbax writes in the
background into a temporary directory that becomes `<step>/` only when complete, so a crash
or a full disk during a write leaves the earlier checkpoints as they were. A failed write is
reported as a CheckpointWriteError at the next save or at close.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import shutil
import sys
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from common.errors import MissingFileError, UserError
from data.constants import IMAGE_SHAPE
from runtime import checkpoint_agreement, hosts
from runtime.checkpoint_agreement import short_reason as _short_reason
from runtime.progress import print_warning
from runtime.variables import model_variables

STATE_ITEM = "state"
CONFIG_ITEM = "config"
LEGACY_STATE_ITEM = "default"  # the single item of checkpoints written without a config
# Where checkpoints that could not be restored are moved (so their steps can be written again).
UNRESTORABLE_SUBDIR = "checkpoints_unrestorable"

# check_config(config_item_or_None, step): raises to refuse resuming from that checkpoint.
ConfigCheck = Callable[[Optional[dict], int], None]


class CheckpointError(UserError, OSError):
  """A checkpoint could not be written or read; the message says what is intact."""


class CheckpointWriteError(CheckpointError):
  """Writing a checkpoint failed (e.g. a full disk); the earlier checkpoints are intact."""


class UnrestorableCheckpointError(CheckpointError, hosts.AgreedError):
  """No kept checkpoint of the workdir can be restored (agreed by every process)."""


class MoveAsideError(CheckpointError, hosts.AgreedError):
  """Process 0 could not move an unrestorable checkpoint aside (every process raises it)."""


@dataclasses.dataclass
class Restored:
  """A restored checkpoint.

  Attributes:
    step: its step.
    state: the restored pytree, in the structure, dtypes and shardings of the target.
    config: the run config saved with it (a JSON dict), or None for a checkpoint written
      before configs were saved with checkpoints.
    skipped: later steps that could not be restored -> a one-line reason.
  """
  step: int
  state: Any
  config: Optional[dict]
  skipped: dict[int, str]


def checkpoint_dir(workdir: str) -> str:
  """Where a run's checkpoints live."""
  return os.path.join(os.path.abspath(workdir), "checkpoints")


def _item_handlers(partial_state: bool) -> dict:
  # PyTreeCheckpointHandler reads the same files as StandardCheckpointHandler and can restore
  # a part of the tree (evaluation needs only the model variables, not the optimiser state).
  state_handler = (ocp.PyTreeCheckpointHandler() if partial_state
                   else ocp.StandardCheckpointHandler())
  return {STATE_ITEM: state_handler, LEGACY_STATE_ITEM: state_handler,
          CONFIG_ITEM: ocp.JsonCheckpointHandler()}


def _this_process_only() -> ocp.options.MultiprocessingOptions:
  """orbax options under which a manager's barriers are those of this process alone (skipped):
  for reads, whose outcome the processes then agree on (runtime/checkpoint_agreement.py)."""
  if not hosts.is_multiprocess():
    return ocp.options.MultiprocessingOptions()
  me = jax.process_index()
  return ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})


def _open_reader(workdir: str, partial_state: bool = False) -> ocp.CheckpointManager:
  """A manager that only reads `workdir`'s checkpoints (close it after use), each process on
  its own (no orbax barrier). Every process of a multi-host run must call it at the same point:
  whether there are checkpoints is decided by process 0.

  Raises:
    FileNotFoundError: the workdir has no checkpoint directory (on every process).
  """
  directory = checkpoint_dir(workdir)
  # (The step's name leaves the path out: hosts may mount one shared workdir at other paths.)
  if not hosts.broadcast_from_main("checkpoint directory of the workdir",
                                   lambda: os.path.isdir(directory)):
    raise MissingFileError(f"No checkpoints in {workdir!r} (no {directory}).")
  return _reader_here(directory, partial_state)


def _reader_here(directory: str, partial_state: bool = False) -> ocp.CheckpointManager:
  """A manager that reads the checkpoints of `directory` (existing) in this process alone."""
  # (Not read_only=True, which logs a warning on every open: this manager is never asked to
  # save or delete, and creates nothing.)
  options = ocp.CheckpointManagerOptions(create=False, max_to_keep=None,
                                         multiprocessing_options=_this_process_only())
  return ocp.CheckpointManager(directory, options=options,
                               item_handlers=_item_handlers(partial_state))


def _state_item(manager: ocp.CheckpointManager, step: int) -> str:
  step_dir = os.path.join(str(manager.directory), str(step))
  return STATE_ITEM if os.path.isdir(os.path.join(step_dir, STATE_ITEM)) else LEGACY_STATE_ITEM


def _read_config_item(manager: ocp.CheckpointManager, step: int) -> Optional[dict]:
  """The config saved with checkpoint `step`, or None if it predates config items."""
  if _state_item(manager, step) == LEGACY_STATE_ITEM:
    return None
  restored = manager.restore(step, args=ocp.args.Composite(
      **{CONFIG_ITEM: ocp.args.JsonRestore()}))
  return dict(restored[CONFIG_ITEM])


def _is_closed_loop_report(unraisable) -> bool:
  return (isinstance(unraisable.exc_value, RuntimeError)
          and str(unraisable.exc_value) == "Event loop is closed")


def _drop_closed_loop_reports() -> Callable[[Any], None]:
  """From now on, drops Python's "Exception ignored" reports of RuntimeError('Event loop is
  closed') (and nothing else); returns the hook that was in place before (the same hook if
  the drop was already in place).

  Orbax runs a read or write in an event loop that it closes as soon as one part fails;
  tensorstore's operations still in flight then report their completion to the closed loop,
  which Python prints as dozens of unraisable tracebacks after the failure was already
  reported (a fallback warning or a CheckpointWriteError). Those reports can arrive before
  the failure reaches this module's code (tensorstore's threads run on), so the drop is put
  in place before each read or write that may fail (`_dropping_closed_loop_reports`).
  """
  previous = sys.unraisablehook
  if getattr(previous, "drops_closed_loop_reports", False):
    return previous

  def hook(unraisable):
    if not _is_closed_loop_report(unraisable):
      previous(unraisable)

  hook.drops_closed_loop_reports = True
  sys.unraisablehook = hook
  return previous


@contextlib.contextmanager
def _dropping_closed_loop_reports():
  """Drops the closed-loop reports (above) while the body runs; if it raises, from then on
  (the failed operation's late reports may come at any time), else the hook before is back."""
  previous = _drop_closed_loop_reports()
  installed = sys.unraisablehook
  yield  # (an exception raised here leaves the drop in place)
  if sys.unraisablehook is installed:
    sys.unraisablehook = previous


def _close_manager(manager: ocp.CheckpointManager) -> None:
  """Closes `manager` and every orbax object it holds, even after a failed background write.

  orbax's close() first waits for the last background write and, when that write failed,
  re-raises its error before closing anything (its checkpointer, handlers and metadata
  stores would be left to the garbage collector); those are then closed here one by one.
  Raises the close() error after that.
  """
  try:
    manager.close()
  except Exception:
    checkpointer = getattr(manager, "_checkpointer", None)
    parts = [getattr(checkpointer, "handler", None), getattr(checkpointer, "_metadata_store", None),
             getattr(manager, "_non_blocking_metadata_store", None),
             getattr(manager, "_blocking_metadata_store", None),
             getattr(manager, "_checkpoint_deleter", None)]
    for part in parts:
      if part is not None:
        with contextlib.suppress(Exception):
          part.close()
    raise


def _guarded(read: Callable[[], Any]) -> Callable[[], Any]:
  """`read` run while the closed-loop reports are dropped (and after it fails: see above)."""
  def guarded_read():
    with _dropping_closed_loop_reports():
      return read()
  return guarded_read


def _restore_with_fallback(manager: ocp.CheckpointManager, restore_state: Callable[[int], Any],
                           check_config: Optional[ConfigCheck]) -> Optional[Restored]:
  """Restores the latest step that can be restored (config item, then state), newest first.

  Every process of a multi-host run must call it at the same point (with a reader of the same
  checkpoint directory): the steps are process 0's, each read is retried once, and a step is
  skipped on every process when any of them could not read it (checkpoint_agreement), so every
  process returns the same step or raises the same error.
  `check_config` is called with each candidate's config before its state is read; what it
  raises (a refused resume) propagates at once. Returns None if there is no checkpoint.
  Raises UnrestorableCheckpointError if there are checkpoints but none can be restored.
  """
  steps = hosts.broadcast_from_main(
      "checkpoint steps", lambda: sorted(manager.all_steps(), reverse=True))
  skipped: dict[int, str] = {}
  for step in steps:
    config, why = checkpoint_agreement.agreed_read(
        f"read the config of checkpoint {step}",
        _guarded(lambda step=step: _read_config_item(manager, step)))
    if why is not None:
      skipped[step] = f"its config cannot be read ({why})"
      continue
    if check_config is not None:
      check_config(config, step)
    state, why = checkpoint_agreement.agreed_read(
        f"restore the state of checkpoint {step}", _guarded(lambda step=step: restore_state(step)))
    if why is not None:
      skipped[step] = f"its state cannot be restored ({why})"
      continue
    return Restored(step=step, state=state, config=config, skipped=skipped)
  if not steps:
    return None
  raise UnrestorableCheckpointError(
      f"None of the checkpoints in {manager.directory} can be restored:\n  "
      + "\n  ".join(f"step {step}: {why}" for step, why in skipped.items())
      + "\nMove the checkpoints directory aside to start the run afresh.")


def _warn_skipped(restored: Restored, directory: str, moved_to: Optional[str]) -> None:
  if not restored.skipped:
    return
  where = f"; moved to {moved_to}" if moved_to else ""
  print_warning(
      f"the latest checkpoint(s) in {directory} cannot be restored"
      f"{where}; using step {restored.step} instead:\n  "
      + "\n  ".join(f"step {step}: {why}" for step, why in restored.skipped.items()),
      jax.process_index() == 0)


def _replicated_target(abstract: Any, sharding: jax.sharding.Sharding) -> Any:
  """`abstract` (arrays or ShapeDtypeStructs) as ShapeDtypeStructs placed by `sharding`."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                      abstract)


def _latest_config_here(workdir: str) -> Optional[tuple[int, Optional[dict]]]:
  """read_latest_config as this process alone sees it (each read retried once)."""
  if not os.path.isdir(checkpoint_dir(workdir)):
    return None
  with _reader_here(checkpoint_dir(workdir)) as manager:
    for step in sorted(manager.all_steps(), reverse=True):
      config, why = checkpoint_agreement.read_with_retry(
          _guarded(lambda step=step: _read_config_item(manager, step)))
      if why is None:  # (else the restore warns about it)
        return step, config
  return None


def read_latest_config(workdir: str) -> Optional[tuple[int, Optional[dict]]]:
  """(step, config item or None) of the newest checkpoint whose config can be read; None if
  the workdir has no checkpoint (or none with a readable config). Reads no arrays.

  In a multi-host run process 0 reads it and hands it to every process (runtime.hosts.
  broadcast_from_main), so every process checks a resume against the same config; every
  process must call it at the same point.
  """
  # (The step's name leaves the path out: hosts may mount one shared workdir at other paths.)
  latest = hosts.broadcast_from_main("latest checkpoint config of the workdir",
                                     lambda: _latest_config_here(workdir))
  return None if latest is None else (int(latest[0]), latest[1])


def restore_variables(workdir: str, abstract_variables: dict,
                      sharding: jax.sharding.Sharding) -> Restored:
  """Restores only the model variables of `workdir`'s latest restorable checkpoint.

  Args:
    abstract_variables: {'params': ..., 'batch_stats': ... (absent or {} if none)} of
      ShapeDtypeStructs (e.g. jax.eval_shape of model.init): the shapes the checkpoint must
      have; the optimiser state is not read.
    sharding: where the arrays go (the current mesh's replicated sharding).
  Returns:
    Restored with state = {'params', 'batch_stats' (if any)}.
  Raises:
    FileNotFoundError: no checkpoint. UnrestorableCheckpointError: none can be restored
      (e.g. its shapes are not those of the model).
  """
  wanted = {name: tree for name, tree in abstract_variables.items() if tree}
  target = _replicated_target(wanted, sharding)
  with _open_reader(workdir, partial_state=True) as manager:

    def restore_state(step):
      item = _state_item(manager, step)
      args = ocp.args.PyTreeRestore(
          item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
          partial_restore=True)
      return dict(manager.restore(step, args=ocp.args.Composite(**{item: args}))[item])

    restored = _restore_with_fallback(manager, restore_state, check_config=None)
  if restored is None:
    raise MissingFileError(f"No finished checkpoint in {checkpoint_dir(workdir)}.")
  _warn_skipped(restored, checkpoint_dir(workdir), None)
  return restored


def restore_model_variables(workdir: str, model: Any, sharding: jax.sharding.Sharding
                            ) -> Restored:
  """The variables of `model` (a Flax module) from `workdir`'s latest restorable checkpoint,
  placed by `sharding`; Restored.state is the dict that `model.apply` takes.

  The target is the model's own abstract variables (jax.eval_shape of model.init), so a
  checkpoint whose shapes are not the model's fails to restore. Raises as restore_variables.
  """
  abstract = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, *IMAGE_SHAPE), jnp.float32), train=False))
  restored = restore_variables(workdir, {"params": abstract["params"],
                                         "batch_stats": abstract.get("batch_stats", {})},
                               sharding)
  restored.state = model_variables(restored.state["params"], restored.state.get("batch_stats"))
  return restored


def load_latest(workdir: str) -> tuple[dict, int]:
  """Reads the latest checkpoint of `workdir` without knowing its model (for tests and
  tools): the whole saved TrainState as a nested dict of arrays (keys 'params',
  'batch_stats', 'opt_state', 'step', ...), replicated on the current devices, and its step.

  Raises:
    FileNotFoundError if the workdir has no checkpoint.
  """
  sharding = jax.sharding.NamedSharding(
      jax.make_mesh((jax.device_count(),), ("devices",)), jax.sharding.PartitionSpec())
  with _open_reader(workdir) as manager:

    def restore_state(step):
      item = _state_item(manager, step)
      args = ocp.args.StandardRestore(fallback_sharding=sharding)
      return manager.restore(step, args=ocp.args.Composite(**{item: args}))[item]

    restored = _restore_with_fallback(manager, restore_state, check_config=None)
  if restored is None:
    raise MissingFileError(f"No finished checkpoint in {checkpoint_dir(workdir)}.")
  return restored.state, restored.step


def is_disk_full(error: BaseException) -> bool:
  """Whether `error` (or an error it was raised from) is 'no space left on device'."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
      return True
    if "No space left on device" in str(error) or "Disk quota exceeded" in str(error):
      return True
    error = error.__cause__ or error.__context__
  return False


def _free_space(directory: str) -> str:
  try:
    return f"{shutil.disk_usage(directory).free / 2**30:.2f} GiB free there"
  except OSError:
    return "free space unknown"


class _OrbaxErrorLog(logging.Filter):
  """Holds back orbax's ERROR log records (with their tracebacks, from its background threads)
  while a writer is open: a failed write is reported once, as a CheckpointWriteError. The
  records are printed only if the failure is not a full disk (then they may help)."""

  def __init__(self):
    super().__init__()
    self.records: list[logging.LogRecord] = []

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno >= logging.ERROR and f"{os.sep}orbax{os.sep}" in record.pathname:
      self.records.append(record)
      return False
    return True

  def replay(self) -> None:
    for record in self.records:
      logging.getLogger(record.name).handle(record)
    self.records.clear()


class CheckpointWriter:
  """Saves a run's checkpoints (state + config) into `workdir/checkpoints`, keeping the latest
  `keep`, and restores the latest one. Use it as a context manager: it is closed on every exit
  path (on an exception, without raising a second one), so no orbax thread outlives the run.
  """

  def __init__(self, workdir: str, keep: int):
    self.directory = checkpoint_dir(workdir)
    self._workdir = workdir
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           cleanup_tmp_directories=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options,
                                          item_handlers=_item_handlers(partial_state=False))
    self._pending: Optional[int] = None  # the step being written in the background
    # While a write is in flight: (unraisable hook before it, hook dropping closed-loop reports).
    self._report_hooks: Optional[tuple[Any, Any]] = None
    try:
      self.last_complete: Optional[int] = self._manager.latest_step()
    except BaseException:
      _close_manager(self._manager)
      raise
    self._closed = False
    self._orbax_errors = _OrbaxErrorLog()
    logging.getLogger("absl").addFilter(self._orbax_errors)

  def __enter__(self) -> "CheckpointWriter":
    return self

  def __exit__(self, exc_type, exc, traceback) -> None:
    if exc_type is None:
      self.close()
    else:
      self.abort()

  def restore(self, abstract_state: Any, sharding: jax.sharding.Sharding,
              check_config: Optional[ConfigCheck] = None) -> Optional[Restored]:
    """Restores the latest restorable checkpoint into `abstract_state`'s structure and dtypes
    with `sharding` (the current mesh), or returns None if there is none.

    Checkpoints newer than the one restored could not be read: they are moved to
    WORKDIR/checkpoints_unrestorable/ (so that their steps can be written again) with a
    warning. `check_config(config_item_or_None, step)` may refuse a candidate by raising.
    """
    target = _replicated_target(abstract_state, sharding)
    # (Read through a manager of its own: the writer's has orbax's device barriers, which only
    # the processes whose read succeeded would reach.)
    with _open_reader(self._workdir) as reader:

      def restore_state(step):
        item = _state_item(reader, step)
        args = ocp.args.Composite(**{item: ocp.args.StandardRestore(target)})
        return reader.restore(step, args=args)[item]

      restored = _restore_with_fallback(reader, restore_state, check_config)
    if restored is None:
      return None
    moved_to = None
    if restored.skipped:
      moved_to = self._move_aside(sorted(restored.skipped))
    _warn_skipped(restored, self.directory, moved_to)
    self.last_complete = restored.step
    return restored

  def _move_aside(self, steps: list[int]) -> str:
    """Moves the step directories `steps` (agreed unrestorable by every process) out of the
    checkpoint directory: process 0 moves them, every process learns whether it could.

    Raises:
      MoveAsideError: on every process, when process 0 could not move one.
    """
    target = os.path.join(os.path.dirname(self.directory), UNRESTORABLE_SUBDIR)

    def move() -> Optional[str]:
      stamp = time.strftime("%Y%m%d-%H%M%S")
      try:
        os.makedirs(target, exist_ok=True)
        for step in steps:
          os.replace(os.path.join(self.directory, str(step)),
                     os.path.join(target, f"{step}-{stamp}"))
      except OSError as error:
        return (f"The unrestorable checkpoint(s) {', '.join(map(str, steps))} of "
                f"{self.directory} could not be moved to {target}: {error}. Move them aside "
                "yourself and run the same command again.")
      return None

    failure = hosts.broadcast_from_main("move unrestorable checkpoints aside", move)
    if failure is not None:
      raise MoveAsideError(failure)
    self._manager.reload()
    return target

  def save(self, step: int, state: Any, config: dict) -> None:
    """Starts writing checkpoint `step` (state and `config`, a JSON dict) in the background.

    Raises:
      CheckpointWriteError: the previous checkpoint's write failed.
    """
    self._finish_pending()
    self._report_hooks = (_drop_closed_loop_reports(), sys.unraisablehook)
    try:
      self._manager.save(step, args=ocp.args.Composite(**{
          STATE_ITEM: ocp.args.StandardSave(state), CONFIG_ITEM: ocp.args.JsonSave(config)}),
          force=True)
    except Exception as error:  # pylint: disable=broad-except
      raise self._write_error(step, error) from error
    self._pending = step

  def wait(self) -> None:
    """Waits for the background write. Raises CheckpointWriteError if it failed."""
    self._finish_pending()

  def close(self) -> None:
    """Waits for the background write and closes the manager (once).

    Raises:
      CheckpointWriteError: the last write failed (the manager is closed anyway).
    """
    if self._closed:
      return
    try:
      self._finish_pending()
    finally:
      self._closed = True
      self._close_quietly()
      logging.getLogger("absl").removeFilter(self._orbax_errors)

  def abort(self) -> None:
    """close() for an exit path that is already raising: a failed write is only warned about."""
    try:
      self.close()
    except CheckpointWriteError as error:
      print_warning(str(error), jax.process_index() == 0)

  def _close_quietly(self) -> None:
    try:
      _close_manager(self._manager)
    except Exception:  # pylint: disable=broad-except  (the write error was already reported)
      pass

  def _finish_pending(self) -> None:
    if self._pending is None:
      return
    step, self._pending = self._pending, None
    try:
      self._manager.wait_until_finished()
    except Exception as error:  # pylint: disable=broad-except
      raise self._write_error(step, error) from error
    self.last_complete = step
    self._stop_dropping_reports()

  def _stop_dropping_reports(self) -> None:
    """After a write that succeeded: the unraisable hook in place before it is back (after a
    failed one the drop stays: its late reports may come at any time)."""
    if self._report_hooks is not None:
      previous, installed = self._report_hooks
      self._report_hooks = None
      if sys.unraisablehook is installed:
        sys.unraisablehook = previous

  def _write_error(self, step: int, error: BaseException) -> CheckpointWriteError:
    _drop_closed_loop_reports()
    self._report_hooks = None  # (the drop stays)
    disk_full = is_disk_full(error)
    if disk_full:
      self._orbax_errors.records.clear()
    else:
      logging.getLogger("absl").removeFilter(self._orbax_errors)
      self._orbax_errors.replay()
    cause = (f"the disk is full ({_free_space(self.directory)})" if disk_full
             else _short_reason(error))
    intact = (f"checkpoint {self.last_complete} is intact" if self.last_complete is not None
              else "no earlier checkpoint exists")
    remedy = ("Free some space (or use a workdir on a larger disk) and run the same command "
              "again to resume" if disk_full else "Run the same command again to resume")
    return CheckpointWriteError(
        f"Could not write checkpoint {step} to {self.directory}: {cause}. The run stopped; "
        f"{intact}. {remedy}.")
