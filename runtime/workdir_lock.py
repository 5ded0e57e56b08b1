"""One writer per workdir: `workdir.lock`, held while a run trains (and evaluates) there.

The lock file is created with O_EXCL (exactly one creator wins, on a local disk and on NFS)
and holds its owner as JSON: {"host", "pid", "started" (ISO 8601, local time with offset),
"command", "token", "boot_id", "process_start"}. A run that finds the lock held by a live
process stops at once with WorkdirLockedError, naming that process. A lock whose owner is gone
is *stale* and is taken over with a warning; gone means, on the same host: no process with
that pid, or one that started at another time (the pid was reused), or the host has rebooted
since (another boot id). A lock of another host cannot be checked from here: it stays until
its owner releases it, or someone deletes the file after making sure that run is gone (the
message says so).

Held locks are re-entrant within a process (a sweep claims a member's workdir, then trains in
it). In a multi-host run the workdir is shared, so only process 0 takes the lock, and the other
processes learn from it whether it did (`hold`, through runtime.hosts).

  with workdir_lock.hold(workdir):        # raises WorkdirLockedError
    ...
  lock_or_owner = workdir_lock.try_acquire(workdir)   # sweeps: a WorkdirLock or the Owner
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from typing import Optional, Union

from runtime import hosts

LOCK_FILE = "workdir.lock"
# How long a lock file may stay empty or unreadable (its creator writes it right after
# creating it) before it counts as held by an unknown owner.
_UNREADABLE_GRACE_S = 2.0
# Stale locks taken over in one try_acquire before giving up (others keep racing for it).
_MAX_TAKEOVERS = 5


class WorkdirLockedError(RuntimeError):
  """Another live run holds the workdir's lock (the message names it)."""


@dataclasses.dataclass(frozen=True)
class Owner:
  """Who holds a lock (the JSON of the lock file); `raw` is the file's text as read."""
  host: str
  pid: int
  started: str
  command: str
  token: str
  boot_id: Optional[str] = None
  process_start: Optional[str] = None
  raw: str = dataclasses.field(default="", compare=False)

  def describe(self) -> str:
    return (f"process {self.pid} on host {self.host}, started {self.started}"
            + (f" ({self.command})" if self.command else ""))


def lock_path(workdir: str) -> str:
  return os.path.join(workdir, LOCK_FILE)


def _boot_id() -> Optional[str]:
  try:
    with open("/proc/sys/kernel/random/boot_id") as f:
      return f.read().strip()
  except OSError:
    return None


def _process_start(pid: int) -> Optional[str]:
  """The start time of process `pid` in clock ticks since boot (Linux /proc), or None."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      stat = f.read()
  except OSError:
    return None
  # Field 22; the command name (field 2, in parentheses) may contain spaces.
  return stat.rsplit(")", 1)[-1].split()[19]


def _me() -> Owner:
  started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
  command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
  return Owner(host=socket.gethostname(), pid=os.getpid(), started=started,
               command=command[:300], token=secrets.token_hex(8), boot_id=_boot_id(),
               process_start=_process_start(os.getpid()))


def _owner_json(owner: Owner) -> str:
  fields = dataclasses.asdict(owner)
  del fields["raw"]
  return json.dumps(fields, indent=1) + "\n"


def read_owner(workdir: str) -> Optional[Owner]:
  """The owner recorded in the workdir's lock file; None if there is no lock file.

  An unreadable or incomplete file gives an Owner with pid -1 (host 'unknown').
  """
  try:
    with open(lock_path(workdir)) as f:
      raw = f.read()
  except FileNotFoundError:
    return None
  try:
    fields = json.loads(raw)
    return Owner(host=str(fields["host"]), pid=int(fields["pid"]), started=str(fields["started"]),
                 command=str(fields.get("command", "")), token=str(fields.get("token", "")),
                 boot_id=fields.get("boot_id"), process_start=fields.get("process_start"),
                 raw=raw)
  except (ValueError, KeyError, TypeError):
    return Owner(host="unknown", pid=-1, started="unknown", command="", token="", raw=raw)


def is_stale(owner: Owner) -> Optional[bool]:
  """Whether the lock's owner is gone: True / False on this host; None on another host or
  for an unreadable lock (cannot tell)."""
  if owner.pid < 0 or owner.host != socket.gethostname():
    return None
  boot_id = _boot_id()
  if owner.boot_id and boot_id and owner.boot_id != boot_id:
    return True  # the host has rebooted since
  try:
    os.kill(owner.pid, 0)
  except ProcessLookupError:
    return True
  except PermissionError:
    pass  # alive, another user's
  start = _process_start(owner.pid)
  return bool(owner.process_start and start and owner.process_start != start)  # pid reused


def _locked_message(workdir: str, owner: Owner) -> str:
  if owner.pid < 0:
    return (f"{workdir} has a lock file that names no owner ({lock_path(workdir)}: "
            f"{owner.raw[:200]!r}). If no run is using this workdir, delete that file.")
  elsewhere = ("" if owner.host == socket.gethostname() else
               " Its host cannot be checked from here: if that run is gone (e.g. its machine "
               f"stopped), delete {lock_path(workdir)}.")
  return (f"{workdir} is in use by another run: {owner.describe()}. Wait for it to finish or "
          f"use another --workdir.{elsewhere}")


class WorkdirLock:
  """A held lock: `release()` (or leaving `with`) removes the lock file if it is still ours,
  and the workdir too if acquiring created it and nothing else was written there (a run that
  stopped at a config error leaves no empty directory behind)."""

  def __init__(self, workdir: str, owner: Owner, created_workdir: bool = False):
    self.workdir = workdir
    self.owner = owner
    self.created_workdir = created_workdir
    self._depth = 1

  def release(self) -> None:
    self._depth -= 1
    if self._depth > 0:
      return
    _HELD.pop(_key(self.workdir), None)
    current = read_owner(self.workdir)
    if current is not None and current.token == self.owner.token:
      with contextlib.suppress(FileNotFoundError):
        os.unlink(lock_path(self.workdir))
      if self.created_workdir:
        with contextlib.suppress(OSError):  # not empty: kept
          os.rmdir(self.workdir)

  def __enter__(self) -> "WorkdirLock":
    return self

  def __exit__(self, *exc_info) -> None:
    self.release()


# Locks this process holds: real workdir path -> WorkdirLock.
_HELD: dict[str, WorkdirLock] = {}


def _key(workdir: str) -> str:
  return os.path.realpath(workdir)


def _create(workdir: str, owner: Owner) -> bool:
  """Creates the lock file with `owner` in it; False if it exists."""
  try:
    descriptor = os.open(lock_path(workdir), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
  except FileExistsError:
    return False
  with os.fdopen(descriptor, "w") as f:
    f.write(_owner_json(owner))
    f.flush()
    os.fsync(f.fileno())
  return True


def _remove_stale(workdir: str, stale: Owner) -> None:
  """Removes the lock file if it still holds `stale` (another process may have taken the stale
  lock over and written its own in the meantime: that one is put back)."""
  path = lock_path(workdir)
  moved = f"{path}.stale.{os.getpid()}.{secrets.token_hex(4)}"
  try:
    os.rename(path, moved)
  except FileNotFoundError:
    return  # someone else removed it
  try:
    with open(moved) as f:
      taken = f.read()
  except OSError:
    taken = stale.raw
  if taken != stale.raw:
    # A new, live lock (someone took the stale one over first): put it back, unless yet
    # another process has created one meanwhile (three processes racing for a stale lock;
    # the second one's lock is then lost: accepted, it needs two crashes and a three-way race).
    try:
      os.link(moved, path)
    except FileExistsError:
      pass
    except OSError:
      os.rename(moved, path)
      return
  with contextlib.suppress(FileNotFoundError):
    os.unlink(moved)


def try_acquire(workdir: str) -> Union[WorkdirLock, Owner]:
  """Takes the workdir's lock (creating the workdir if needed): the held WorkdirLock, or the
  Owner of a lock held by a live (or uncheckable) process. A stale lock is taken over with a
  warning. Re-entrant: a lock this process holds is returned again (released by as many
  release() calls)."""
  held = _HELD.get(_key(workdir))
  if held is not None:
    held._depth += 1  # pylint: disable=protected-access
    return held
  created_workdir = not os.path.isdir(workdir)
  os.makedirs(workdir, exist_ok=True)
  me = _me()
  first_unreadable, takeovers = None, 0
  while True:
    if _create(workdir, me):
      lock = WorkdirLock(workdir, me, created_workdir)
      _HELD[_key(workdir)] = lock
      return lock
    owner = read_owner(workdir)
    if owner is None:
      continue  # released meanwhile
    if owner.pid < 0:  # being written right now, or broken
      first_unreadable = first_unreadable or time.monotonic()
      if time.monotonic() - first_unreadable < _UNREADABLE_GRACE_S:
        time.sleep(0.05)
        continue
      return owner
    if not is_stale(owner):
      return owner
    takeovers += 1
    if takeovers > _MAX_TAKEOVERS:
      raise WorkdirLockedError(f"could not take the lock of {workdir} "
                               f"({lock_path(workdir)}): it keeps changing hands")
    print(f"warning: taking over the lock of {workdir} from {owner.describe()}: that process "
          "is no longer running", file=sys.stderr)
    _remove_stale(workdir, owner)


def acquire(workdir: str) -> WorkdirLock:
  """try_acquire, or WorkdirLockedError naming the owner of a live lock."""
  result = try_acquire(workdir)
  if isinstance(result, Owner):
    raise WorkdirLockedError(_locked_message(workdir, result))
  return result


@contextlib.contextmanager
def hold(workdir: str) -> Iterator[None]:
  """Holds the workdir's lock for the block (on process 0 of a multi-host run, whose workdir
  is shared; every process learns whether it got it).

  Raises:
    WorkdirLockedError on every process: another live run holds the lock.
  """
  def take():
    nonlocal lock
    try:
      lock = acquire(workdir)
    except WorkdirLockedError as error:
      return str(error)
    return None

  lock: Optional[WorkdirLock] = None
  # (The step's name leaves the path out: hosts may mount one shared workdir at other paths.)
  refusal = hosts.broadcast_from_main("lock of the workdir", take)
  if refusal is not None:
    raise WorkdirLockedError(refusal)
  try:
    yield
  finally:
    if lock is not None:
      lock.release()
