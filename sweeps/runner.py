"""Runs sweep members, each in its own sub-workdir, resumably and failure-tolerantly.

A member's directory is `<sweep workdir>/<member name>/`: an ordinary run workdir
(config.json, checkpoints/, metrics.jsonl, summary.json, eval/) plus `sweep_member.json`, its
state for the sweep:
  {"name", "index", "seed", "settings", "fingerprint", "state", "error", "traceback",
   "seconds"}
with state 'running' (started; if the process died, the next run resumes it from its last
checkpoint), 'done' (skipped by later runs while its config is unchanged) or 'failed' (the
error and traceback are kept; the next run tries again). The sweep workdir also gets
`sweep.json`: the sweep config and its list of members.

Several sweep processes may share one sweep workdir (the machines of an array job on a shared
file system): each member is claimed through its workdir's lock
(`<member>/workdir.lock`, runtime.workdir_lock) before it runs, so the processes split the
members instead of training one twice; a member whose claimer died is free at once (its OS
lock died with it, on any host; see runtime/workdir_lock.py).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from collections.abc import Sequence
from typing import Any, Optional

import jax
import ml_collections

import augment
import models
from common.atomic_files import atomic_write_text
from common.errors import ConfigError, UserError
from evaluate.config import check_eval_config
from pipeline.train_then_evaluate import train_and_evaluate
from runtime import hosts, preemption, workdir_lock
from runtime.progress import format_duration, print_progress
from sweeps.spec import SweepMember
from training.temperature import check_temperature_config, temperature_config

STATUS_FILE = "sweep_member.json"
SWEEP_FILE = "sweep.json"
DONE, FAILED, RUNNING, SKIPPED = "done", "failed", "running", "skipped"
# Outcome of a member whose workdir another live process holds (it is left to that process).
CLAIMED = "claimed"
# Seconds a process whose member failed waits for the other processes of a multi-host run to
# report that member's outcome (a failure that is the same everywhere, e.g. a diverged loss,
# arrives at once) before it stops the sweep.
FAILED_MEMBER_WAIT_S = 60.0
NOT_STARTED = "not started"
STALE = "stale (config changed since it ran)"


@dataclasses.dataclass(frozen=True)
class MemberOutcome:
  """What happened to one member in this invocation.

  state: 'done' (trained, and evaluated if asked), 'skipped' (already done with this config),
  'claimed' (another process holds it; `error` names that process) or 'failed' (then
  `error` holds the message). `seconds`: the member's wall time in this invocation.
  """
  member: SweepMember
  state: str
  error: Optional[str] = None
  seconds: float = 0.0


def _say(line: str) -> None:
  print_progress(line, hosts.is_main_process())


def member_dir(workdir: str, member: SweepMember) -> str:
  return os.path.join(workdir, member.name)


def _write_json(path: str, payload: Any) -> None:
  atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def read_json_or_none(path: str) -> Optional[dict[str, Any]]:
  """The JSON object in `path`, or None if the file is missing or unreadable."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError):
    return None


def read_status(directory: str) -> Optional[dict[str, Any]]:
  """The member's sweep_member.json, or None if it never started (or the file is unreadable)."""
  return read_json_or_none(os.path.join(directory, STATUS_FILE))


def _write_status(directory: str, member: SweepMember, state: str, **extra: Any) -> None:
  if not hosts.is_main_process():
    return
  os.makedirs(directory, exist_ok=True)
  _write_json(os.path.join(directory, STATUS_FILE), {
      "name": member.name, "index": member.index, "seed": member.seed,
      "settings": member.settings, "fingerprint": member.fingerprint(), "state": state,
      "error": None, "traceback": None, **extra})


def state_of(status: Optional[dict[str, Any]], member: SweepMember) -> str:
  """A member's state from its sweep_member.json (None: never started): 'not started',
  'running' (or interrupted), 'failed', 'done', or STALE: done, but with a config other
  than the member's present one (so it runs again)."""
  if not status:
    return NOT_STARTED
  if status.get("state") == DONE and status.get("fingerprint") != member.fingerprint():
    return STALE
  return status.get("state", NOT_STARTED)


def member_state(workdir: str, member: SweepMember) -> str:
  """state_of the member's status file in `workdir`."""
  return state_of(read_status(member_dir(workdir, member)), member)


def claimant(workdir: str, member: SweepMember) -> Optional[workdir_lock.Owner]:
  """Who holds the member's workdir lock now (a sweep, train or evaluation process), or None
  if nobody does (a holder that died holds nothing)."""
  return workdir_lock.holder(member_dir(workdir, member))


def is_finished(workdir: str, member: SweepMember) -> bool:
  """Whether the member finished earlier with exactly its present config."""
  return member_state(workdir, member) == DONE


def validate_members(members: Sequence[SweepMember], evaluate: bool) -> None:
  """Builds every member's model, augmentation and eval protocols (cheap: no weights).

  Raises:
    ValueError (UnknownNameError lists the valid names) naming the first bad member, so that a
    typo fails the whole sweep at once instead of one member hours later.
  """
  for member in members:
    try:
      models.build_model(**member.config.model)
      augment.build_augment(member.config.augment)
      check_temperature_config(temperature_config(member.config.train))
      if evaluate:
        check_eval_config(member.config.eval)
    except UserError as error:  # (an error of a model's own code keeps its traceback)
      raise ConfigError(f"sweep member {member.index} ({member.name}): {error}") from error


def write_sweep_file(workdir: str, sweep: ml_collections.ConfigDict,
                     members: Sequence[SweepMember]) -> None:
  """`sweep.json`: the sweep config and every member's index, name, group, seed, settings."""
  if not hosts.is_main_process():
    return
  os.makedirs(workdir, exist_ok=True)
  _write_json(os.path.join(workdir, SWEEP_FILE), {
      "sweep": json.loads(sweep.to_json_best_effort()),
      "members": [{"index": m.index, "name": m.name, "group": m.group, "seed": m.seed,
                   "settings": m.settings} for m in members]})


def run_member(member: SweepMember, workdir: str, *, evaluate: bool,
               total: Optional[int] = None) -> MemberOutcome:
  """Claims, trains (resuming if interrupted) and evaluates one member; never raises its errors.

  The member is claimed by taking its workdir's lock (runtime.workdir_lock): a member that
  another live sweep process holds is left to it ('claimed'); a member whose claimer is gone
  (a stale lock) is taken over. Its state is read after claiming, so a member that another
  process has just finished is skipped. In a multi-host run process 0 claims and decides for
  every process (runtime.hosts.broadcast_from_main); after the member, the processes agree on
  its outcome (runtime.hosts.gather_outcomes): it failed if it failed on any of them. A process
  whose member failed waits at most FAILED_MEMBER_WAIT_S for the others; if they do not arrive
  (stuck in a computation that needs the failed process) the whole sweep stops.

  Args:
    member: the member to run.
    workdir: the sweep workdir; the member runs in `workdir/<member.name>`.
    evaluate: run the invariance evaluation of `member.config.eval` after training.
    total: the number of members, for progress lines.
  Returns:
    Its outcome; a failure is also written to its sweep_member.json with the traceback.
  Raises:
    runtime.hosts.PeersNotRespondingError: multi-host only, see above.
  """
  directory = member_dir(workdir, member)
  label = f"[sweep {member.index + 1}{f'/{total}' if total else ''}] {member.name}"
  lock = None

  def claim() -> dict[str, str]:
    nonlocal lock
    taken = workdir_lock.try_acquire(directory)
    if isinstance(taken, workdir_lock.Owner):
      return {"owner": taken.describe()}
    state = member_state(workdir, member)
    if state == DONE:
      taken.release()
    else:
      lock = taken
    return {"state": state}

  decision = hosts.broadcast_from_main(f"claim sweep member {member.name}", claim)
  if "owner" in decision:
    _say(f"{label}: claimed by another process ({decision['owner']}), left to it")
    return MemberOutcome(member, CLAIMED, f"claimed by {decision['owner']}")
  try:
    return _run_claimed(member, directory, decision["state"], label, evaluate)
  finally:
    if lock is not None:
      lock.release()


def _run_claimed(member: SweepMember, directory: str, previous: str, label: str,
                 evaluate: bool) -> MemberOutcome:
  if previous == DONE:
    _say(f"{label}: already done, skipped")
    return MemberOutcome(member, SKIPPED)
  why = {RUNNING: " (resuming an interrupted run)", FAILED: " (again, after a failure)",
         STALE: " (again: its config changed)"}.get(previous, "")
  _say(f"{label}: starting{why}")
  _write_status(directory, member, RUNNING)
  config = ml_collections.ConfigDict(member.config.to_dict())
  config.eval.run_after_training = bool(evaluate)
  start = time.perf_counter()
  error, trace = None, None
  try:
    train_and_evaluate(config, directory)
  except preemption.Preempted:  # saved; the whole sweep stops (its status stays 'running')
    raise
  except Exception as caught:  # pylint: disable=broad-except
    # Any failure of one member (divergence, bad data, out of memory, ...) is recorded and
    # the sweep goes on with the next member.
    error, trace = f"{type(caught).__name__}: {caught}", traceback.format_exc()
  finally:
    jax.clear_caches()  # compiled steps of this member's model are not needed again
  outcomes = hosts.gather_outcomes(f"sweep member {member.name}", error,
                                   FAILED_MEMBER_WAIT_S if error else None)
  failures = [(process, message) for process, message in outcomes.items() if message]
  seconds = time.perf_counter() - start
  if failures:
    process, message = failures[0]  # the first to fail: usually the cause of the others
    if len({m for _, m in failures}) > 1 or len(failures) < len(outcomes):
      message = f"{message} (on process {process} of {len(outcomes)}" + "".join(
          f"; then on process {p}: {m[:300]}" for p, m in failures[1:]) + ")"
    _write_status(directory, member, FAILED, error=message,
                  traceback=trace if error else None, seconds=seconds)
    _say(f"{label}: FAILED after {format_duration(seconds)}: {message}")
    return MemberOutcome(member, FAILED, message, seconds)
  _write_status(directory, member, DONE, seconds=seconds)
  _say(f"{label}: done in {format_duration(seconds)}")
  return MemberOutcome(member, DONE, None, seconds)


def unfinished_claims(outcomes: Sequence[MemberOutcome], workdir: str) -> list[MemberOutcome]:
  """The members of `outcomes` left to another process ('claimed') that are still not
  finished now that this process has nothing left to do (process 0 looks; every process of a
  multi-host run gets its answer, so call it on all of them)."""
  claimed = [o for o in outcomes if o.state == CLAIMED]
  if not claimed:
    return []
  unfinished = hosts.broadcast_from_main(
      "unfinished claimed sweep members",
      lambda: [o.member.name for o in claimed if not is_finished(workdir, o.member)])
  return [o for o in claimed if o.member.name in unfinished]


def run_members(members: Sequence[SweepMember], workdir: str, *, evaluate: bool,
                total: int) -> list[MemberOutcome]:
  """Runs each member in order; a failed member does not stop the others, a member claimed
  by another process is left to it."""
  return [run_member(member, workdir, evaluate=evaluate, total=total) for member in members]
