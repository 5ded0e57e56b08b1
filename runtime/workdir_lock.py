"""One writer per workdir: `workdir.lock`, an OS lock held while a run trains (and evaluates)
there; evaluations (`python -m evaluate`, `python -m evaluate.layers`) hold it shared.

The lock is `fcntl.flock` on the lock file, kept open for the lock's life: the kernel releases
it when its holder ends in any way (exit, crash, SIGKILL), so a lock is never left behind by
a dead process and a lock of a live process is never taken over. The file also holds the
exclusive holder's record (runtime.lock_owner: host, pid, pid namespace, start, command), for
messages only. A trainer holds it exclusively; evaluations hold it shared (any number of them
together, none while a trainer holds it). The last holder removes the file on release; a
process that opened a file removed meanwhile sees that it is no longer at the path and tries
again.

Across hosts the lock works where the shared file system supports locks: NFS (Linux clients
turn flock into NFS byte-range locks, which the server frees when the holder's host dies,
after its lease time, typically 90 s), Lustre mounted with `-o flock` (the default since
2.12), GPFS, CephFS. Where the file system refuses locks (ENOLCK, EOPNOTSUPP, ENOSYS: e.g.
Lustre mounted `-o noflock`, some FUSE file systems) the command stops at once with
LockNotSupportedError saying so: a run there could not be kept from sharing its workdir.

Held locks are re-entrant within a process (a sweep claims a member's workdir, then trains in
it; training then evaluates). In a multi-host run the workdir is shared, so only process 0
takes the lock, and the other processes learn from it whether it did (`hold`, through
runtime.hosts).

  with workdir_lock.hold(workdir):              # raises WorkdirLockedError
  with workdir_lock.hold(workdir, shared=True): # evaluations
  lock_or_owner = workdir_lock.try_acquire(workdir)   # sweeps: a WorkdirLock or the Owner
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from typing import Optional, Union

from common.errors import UserError
from runtime import hosts, lock_owner
from runtime.lock_owner import Owner

__all__ = ["LOCK_FILE", "LockNotSupportedError", "Owner", "WorkdirLock", "WorkdirLockedError",
           "acquire", "hold", "holder", "lock_path", "read_owner", "try_acquire"]

LOCK_FILE = "workdir.lock"
# How long (seconds) a held lock's record may stay empty (its holder writes it right after
# taking the lock) before it counts as held by an unknown owner.
_UNREADABLE_GRACE_S = 2.0
# errno values of a file system that does not support flock.
_NOT_SUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


class WorkdirLockedError(UserError, RuntimeError):
  """Another live run holds the workdir's lock (the message names it)."""


class LockNotSupportedError(UserError, OSError):
  """The workdir's file system does not support file locks."""


def lock_path(workdir: str) -> str:
  return os.path.join(workdir, LOCK_FILE)


class WorkdirLock:
  """A held lock (`fd`: the open lock file). `release()` (or leaving `with`) releases it,
  removing the lock file when no one else holds it, and the workdir too if acquiring created
  it and nothing else was written there (a run that stopped at a config error leaves no empty
  directory behind)."""

  def __init__(self, workdir: str, fd: int, owner: Optional[Owner], shared: bool,
               created_workdir: bool = False):
    self.workdir, self.fd, self.owner, self.shared = workdir, fd, owner, shared
    self.created_workdir = created_workdir
    self._depth = 1

  def release(self) -> None:
    self._depth -= 1
    if self._depth > 0:
      return
    _HELD.pop(_key(self.workdir), None)
    try:
      if not self.shared or _try_flock(self.fd, fcntl.LOCK_EX):  # the last holder
        if _is_at_path(self.fd, lock_path(self.workdir)):
          with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path(self.workdir))
    finally:
      os.close(self.fd)  # releases the OS lock
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


def _try_flock(fd: int, operation: int) -> bool:
  """flock(fd, operation | LOCK_NB): whether it was granted.

  Raises:
    LockNotSupportedError: the file system refuses locks.
  """
  try:
    fcntl.flock(fd, operation | fcntl.LOCK_NB)
    return True
  except BlockingIOError:
    return False
  except OSError as error:
    if error.errno in _NOT_SUPPORTED:
      raise LockNotSupportedError(
          f"the file system of {os.path.dirname(os.readlink(f'/proc/self/fd/{fd}'))} does "
          f"not support file locks ({os.strerror(error.errno)}), so this run cannot keep "
          "other runs out of its workdir. Use a workdir on a local disk or on a file system "
          "with locks (NFS, Lustre mounted with -o flock, GPFS, CephFS).") from None
    raise


def _is_at_path(fd: int, path: str) -> bool:
  """Whether the open file `fd` is still the file at `path` (not removed or replaced)."""
  try:
    at_path = os.stat(path)
  except FileNotFoundError:
    return False
  opened = os.fstat(fd)
  return (opened.st_dev, opened.st_ino) == (at_path.st_dev, at_path.st_ino)


def _read(fd: int) -> str:
  return os.pread(fd, 1 << 16, 0).decode("utf-8", errors="replace")


def _open_locked(workdir: str, shared: bool) -> tuple[int, Optional[int]]:
  """(fd, None) with the lock taken, or (-1, fd) of the lock file held by someone else (the
  caller reads who, then closes it)."""
  path = lock_path(workdir)
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      if not _try_flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX):
        return -1, fd
    except BaseException:
      os.close(fd)
      raise
    if _is_at_path(fd, path):
      return fd, None
    os.close(fd)  # its last holder removed it between our open and flock: again


def _holder_of(fd: int) -> Owner:
  """Who holds the lock of the open lock file `fd` that this process could not take."""
  first_try = time.monotonic()
  while True:
    owner = lock_owner.from_text(_read(fd))
    if owner is not None and owner.pid >= 0:
      return owner
    if owner is None and _try_flock(fd, fcntl.LOCK_SH):
      return lock_owner.readers()  # (our shared lock goes with the fd, closed by the caller)
    if time.monotonic() - first_try > _UNREADABLE_GRACE_S:
      return owner or Owner(host="unknown", pid=-1, started="unknown", command="", token="")
    time.sleep(0.05)  # its holder is writing the record right now


def _write_record(workdir: str, fd: int) -> Owner:
  """Replaces the lock file's record with this process's (warning about a record that a
  holder left behind when it died)."""
  left = lock_owner.from_text(_read(fd))
  if left is not None and left.pid >= 0:
    print(f"warning: taking over the lock of {workdir} from {left.describe()}: that process "
          "no longer holds it (it ended without releasing the lock)", file=sys.stderr)
  me = lock_owner.me()
  os.ftruncate(fd, 0)
  os.pwrite(fd, lock_owner.to_json(me).encode(), 0)
  os.fsync(fd)
  return me


def try_acquire(workdir: str, shared: bool = False) -> Union[WorkdirLock, Owner]:
  """Takes the workdir's lock (creating the workdir if needed), exclusively or `shared`: the
  held WorkdirLock, or the Owner of the live process(es) that hold it. Re-entrant: a lock
  this process holds is returned again (released by as many release() calls); a process
  holding it exclusively also gets it when it asks for it shared.

  Raises:
    LockNotSupportedError: the workdir's file system refuses locks.
  """
  held = _HELD.get(_key(workdir))
  if held is not None and (shared or not held.shared):
    held._depth += 1  # pylint: disable=protected-access
    return held
  if held is not None:
    raise RuntimeError(f"{workdir}: this process holds its lock shared and asks for it "
                       "exclusively (a bug)")
  created_workdir = not os.path.isdir(workdir)
  os.makedirs(workdir, exist_ok=True)
  fd, other = _open_locked(workdir, shared)
  if other is not None:
    try:
      return _holder_of(other)
    finally:
      os.close(other)
      if created_workdir:
        with contextlib.suppress(OSError):
          os.rmdir(workdir)
  if shared:
    os.ftruncate(fd, 0)  # a record left by a dead trainer (no trainer holds it now)
    owner = None
  else:
    owner = _write_record(workdir, fd)
  lock = WorkdirLock(workdir, fd, owner, shared, created_workdir)
  _HELD[_key(workdir)] = lock
  return lock


def read_owner(workdir: str) -> Optional[Owner]:
  """The owner record in the workdir's lock file, whether or not its process still holds the
  lock (see holder()); None if there is no lock file or no record."""
  held = _HELD.get(_key(workdir))
  if held is not None:  # (read through our own descriptor: closing another one would drop
    return lock_owner.from_text(_read(held.fd))  # our lock where flock is emulated, on NFS)
  try:
    with open(lock_path(workdir)) as f:
      return lock_owner.from_text(f.read())
  except FileNotFoundError:
    return None


def holder(workdir: str) -> Optional[Owner]:
  """Who holds the workdir's lock now (this process included), or None if no one does."""
  held = _HELD.get(_key(workdir))
  if held is not None:
    return held.owner or lock_owner.readers()
  try:
    fd = os.open(lock_path(workdir), os.O_RDONLY)  # (flock needs no write access)
  except FileNotFoundError:
    return None
  try:
    return None if _try_flock(fd, fcntl.LOCK_EX) else _holder_of(fd)
  finally:
    os.close(fd)


def _locked_message(workdir: str, owner: Owner) -> str:
  if owner.pid < 0 and not owner.shared:
    return (f"{workdir} is locked by a process that wrote no owner record "
            f"({lock_path(workdir)}: {owner.raw[:200]!r}); it is still running (its lock is "
            "held). Wait for it to finish or use another --workdir.")
  return (f"{workdir} is in use by another run: {owner.describe()}. Wait for it to finish or "
          "use another --workdir.")


def acquire(workdir: str, shared: bool = False) -> WorkdirLock:
  """try_acquire, or WorkdirLockedError naming the holder of the lock."""
  result = try_acquire(workdir, shared)
  if isinstance(result, Owner):
    raise WorkdirLockedError(_locked_message(workdir, result))
  return result


@contextlib.contextmanager
def hold(workdir: str, shared: bool = False) -> Iterator[None]:
  """Holds the workdir's lock for the block, exclusively or `shared` (on process 0 of a
  multi-host run, whose workdir is shared; every process learns whether it got it).

  Raises:
    WorkdirLockedError on every process: another live run holds the lock.
    LockNotSupportedError (as WorkdirLockedError's message, on every process): see the module.
  Shared, a workdir that does not exist or cannot be written is read without a lock.
  """
  def take():
    nonlocal lock
    if shared and not os.path.isdir(workdir):
      return None  # nothing to read there: the reader's own error follows
    try:
      lock = acquire(workdir, shared)
    except (WorkdirLockedError, LockNotSupportedError) as error:
      return str(error)
    except OSError as error:
      if shared and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return None  # a read-only workdir (results go elsewhere): read without a lock
      raise
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
