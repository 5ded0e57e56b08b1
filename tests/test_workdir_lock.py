"""One writer per workdir (runtime/workdir_lock.py) and one atomic-write helper
(common/atomic_files.py): the lock's rules in-process, then real processes: a second train.py
(its main() in this process) on a workdir locked by another process, and two sweep.py
processes sharing one sweep workdir."""
import csv
import errno
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys

import pytest

from common import atomic_files
from runtime import workdir_lock
from tests.conftest import REPO_ROOT, write_tiny_sweep
from tests.tiny_run import train_main_in_process

FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
TIMEOUT_S = 600
# A real process that takes a workdir's lock and keeps it until its stdin closes.
_HOLDER = ("import sys; from runtime import workdir_lock; "
           "workdir_lock.acquire(sys.argv[1], shared=sys.argv[2] == 'shared'); "
           "print('held', flush=True); sys.stdin.read()")


def _env():
  return {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": FAST_COMPILE}


def _hold(workdir, shared=False):
  """A process that holds the workdir's lock (exclusively or `shared`) until it is killed."""
  holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(workdir),
                             "shared" if shared else "exclusive"], cwd=REPO_ROOT,
                            env=_env(), text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  assert holder.stdout.readline().strip() == "held", holder.stderr.read()
  return holder


def _kill(process):
  os.kill(process.pid, signal.SIGKILL)
  process.wait(timeout=60)


def _write_owner(workdir, **fields):
  os.makedirs(workdir, exist_ok=True)
  owner = {"host": socket.gethostname(), "pid": os.getppid(), "command": "train.py",
           "started": "2026-01-01T00:00:00+00:00", "token": "someone", **fields}
  with open(os.path.join(workdir, workdir_lock.LOCK_FILE), "w") as f:
    json.dump(owner, f)


# ---- the atomic-write helper

def test_atomic_write_replaces_whole_files_and_leaves_nothing_behind_on_error(tmp_path):
  path = tmp_path / "report.json"
  atomic_files.atomic_write_text(path, "old\n")
  with pytest.raises(RuntimeError):
    with atomic_files.atomic_write(path) as f:
      f.write("half of a new")
      raise RuntimeError("disk full")
  assert path.read_text() == "old\n"
  with atomic_files.atomic_write(path, "wb") as f:
    f.write(b"new\n")
  assert path.read_text() == "new\n"
  assert os.listdir(tmp_path) == ["report.json"]
  assert oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~_umask())  # as open() would
  with pytest.raises(ValueError):
    with atomic_files.atomic_write(path, "a"):
      pass


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def test_temporary_files_are_unique_per_writer(tmp_path):
  names = {atomic_files.temporary_path(str(tmp_path / "x.csv")) for _ in range(100)}
  assert len(names) == 100
  assert all(f".{socket.gethostname()}.{os.getpid()}." in name and name.endswith(".tmp")
             for name in names)


def test_atomic_write_fsyncs_the_directory_after_the_rename(tmp_path, monkeypatch):
  path = tmp_path / "report.json"
  synced = []  # (is a directory, does the target exist yet) per fsync
  real_fsync = os.fsync

  def recording_fsync(descriptor):
    synced.append((stat.S_ISDIR(os.fstat(descriptor).st_mode), path.exists()))
    real_fsync(descriptor)

  monkeypatch.setattr(os, "fsync", recording_fsync)
  atomic_files.atomic_write_text(path, "new\n")
  assert synced == [(False, False), (True, True)]  # the file, then its directory after the rename


def test_directory_fsync_not_supported_is_tolerated_other_errors_are_not(tmp_path, monkeypatch):
  def refuse(code):
    def fsync(descriptor):
      raise OSError(code, os.strerror(code))
    return fsync

  monkeypatch.setattr(os, "fsync", refuse(errno.EINVAL))
  assert atomic_files.fsync_directory(tmp_path) is False
  monkeypatch.setattr(os, "fsync", refuse(errno.EIO))
  with pytest.raises(OSError):
    atomic_files.fsync_directory(tmp_path)


# ---- the lock, in this process and with a holder process

def test_lock_is_exclusive_reentrant_and_removed_on_release(tmp_path):
  workdir = str(tmp_path / "run")
  lock = workdir_lock.acquire(workdir)
  owner = workdir_lock.read_owner(workdir)
  assert (owner.host, owner.pid) == (socket.gethostname(), os.getpid())
  assert owner.pid_namespace == os.readlink("/proc/self/ns/pid")
  assert workdir_lock.try_acquire(workdir) is lock  # re-entrant
  assert workdir_lock.try_acquire(workdir, shared=True) is lock  # (training, then evaluating)
  lock.release()
  lock.release()
  assert os.path.exists(workdir_lock.lock_path(workdir))  # still held once
  lock.release()
  assert not os.path.exists(workdir)  # created by the lock, left empty: removed
  with workdir_lock.hold(workdir):
    assert workdir_lock.read_owner(workdir).pid == os.getpid()
    with open(os.path.join(workdir, "config.json"), "w"):
      pass
  assert workdir_lock.read_owner(workdir) is None
  assert os.listdir(workdir) == ["config.json"]


@pytest.mark.slow
def test_a_live_holder_is_named_and_its_lock_freed_the_moment_it_is_killed(tmp_path, capfd):
  workdir = str(tmp_path / "run")
  holder = _hold(workdir)
  namespace = os.readlink("/proc/self/ns/pid")
  try:
    with pytest.raises(workdir_lock.WorkdirLockedError,
                       match=(f"in use by another run: process {holder.pid} on host "
                              f"{socket.gethostname()} \\(pid namespace {re.escape(namespace)}"
                              "\\), started ")):
      workdir_lock.acquire(workdir)
    with pytest.raises(workdir_lock.WorkdirLockedError):  # a reader is refused too
      with workdir_lock.hold(workdir, shared=True):
        pass
    assert workdir_lock.holder(workdir).pid == holder.pid
  finally:
    _kill(holder)  # SIGKILL: no release, the record stays in the file
  assert workdir_lock.holder(workdir) is None  # the OS freed the lock with its holder
  with workdir_lock.hold(workdir):
    assert workdir_lock.read_owner(workdir).pid == os.getpid()
  assert (f"warning: taking over the lock of {workdir} from process {holder.pid}"
          in capfd.readouterr().err)


def test_a_record_left_by_a_dead_owner_on_another_host_does_not_keep_the_lock(tmp_path):
  workdir = str(tmp_path / "run")
  _write_owner(workdir, host="elsewhere", pid=1)  # alive here, but it is not the holder
  with workdir_lock.hold(workdir):
    assert workdir_lock.read_owner(workdir).pid == os.getpid()
  with open(workdir_lock.lock_path(workdir), "w"):
    pass  # an empty file (its creator died before writing): no holder either
  workdir_lock.acquire(workdir).release()


@pytest.mark.slow
def test_readers_share_the_lock_and_exclude_a_trainer(tmp_path):
  workdir = str(tmp_path / "run")
  reader = _hold(workdir, shared=True)
  try:
    with workdir_lock.hold(workdir, shared=True):  # another reader: fine
      pass
    with pytest.raises(workdir_lock.WorkdirLockedError, match="one or more evaluations"):
      workdir_lock.acquire(workdir)
    assert os.path.exists(workdir_lock.lock_path(workdir))  # the other reader still holds it
  finally:
    _kill(reader)
  workdir_lock.acquire(workdir).release()
  with workdir_lock.hold(str(tmp_path / "missing"), shared=True):  # nothing to lock
    assert not os.path.exists(tmp_path / "missing")


def test_a_file_system_without_locks_stops_the_run_saying_so(tmp_path, monkeypatch):
  def no_locks(fd, operation):
    raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

  monkeypatch.setattr(workdir_lock.fcntl, "flock", no_locks)
  with pytest.raises(workdir_lock.WorkdirLockedError, match="does not support file locks"):
    with workdir_lock.hold(str(tmp_path / "run")):
      pass


# ---- real processes

@pytest.mark.slow
def test_second_train_py_on_a_locked_workdir_exits_at_once_naming_the_owner(
    tmp_path, capfd, monkeypatch):
  """train.py's main() in this process (the refusal comes before any compilation; a new
  process would only add its imports) against a real holder process."""
  workdir = tmp_path / "run"
  holder = _hold(workdir)
  capfd.readouterr()
  try:
    with pytest.raises(SystemExit) as exited:
      train_main_in_process(monkeypatch, workdir, "data.source=synthetic", "model.width=4",
                            config_file=os.path.join(REPO_ROOT, "configs", "quickstart.py"))
  finally:
    _kill(holder)  # like a crash: the lock stays behind
  assert exited.value.code == 1
  stderr = capfd.readouterr().err
  assert stderr.strip().splitlines()[-1].startswith(
      f"error: {workdir} is in use by another run: process {holder.pid} on host "
      f"{socket.gethostname()} (pid namespace "), stderr[-2000:]
  assert "Traceback" not in stderr
  assert os.listdir(workdir) == [workdir_lock.LOCK_FILE]  # nothing loaded, nothing written
  lock = workdir_lock.acquire(str(workdir))  # the holder is gone: free at once
  assert f"from process {holder.pid} on host" in capfd.readouterr().err
  lock.release()


def _sweep_py(config, workdir):
  return subprocess.Popen([sys.executable, "sweep.py", f"--config={config}",
                           f"--workdir={workdir}"], cwd=REPO_ROOT, env=_env(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_two_sweeps_on_one_workdir_split_the_members_and_take_over_a_dead_claim(tmp_path):
  """Two sweeps split the members; one claimed by a live process is left to it and each sweep
  exits 1 naming it; once its claimer is killed, the next sweep runs it."""
  config = write_tiny_sweep(tmp_path / "sweep_config.py",
                            [{"label": "a"}, {"label": "b"}, {"label": "c"}], evaluate=False)
  with open(config, "a") as f:
    f.write("\n\n_get_config = get_config\n\n\ndef get_config():\n"
            "  sweep = _get_config()\n  sweep.base.model.width = 4\n"
            "  sweep.base.train.num_steps = 2\n  sweep.base.train.checkpoint_every_steps = 2\n"
            "  sweep.base.train.log_every_steps = 1\n"
            "  return sweep\n")
  workdir = tmp_path / "sweep"
  holder = _hold(workdir / "a,seed=0")  # a live claim of member a by another process
  try:
    sweeps = [_sweep_py(config, workdir) for _ in range(2)]
    outputs = [sweep.communicate(timeout=TIMEOUT_S) for sweep in sweeps]
  finally:
    _kill(holder)
  # Member a is claimed by a live process and never finished: each sweep says so, exit 1.
  assert [sweep.returncode for sweep in sweeps] == [1, 1], [err[-2000:] for _, err in outputs]
  stdout = "".join(out for out, _ in outputs)
  for out, err in outputs:
    assert f"a,seed=0: claimed by another process (process {holder.pid} on host" in out
    assert "member(s) are claimed by another process and not finished" in err, err[-2000:]
    assert f"  0 a,seed=0: claimed by process {holder.pid} on host" in err, err[-2000:]
  for member in ("b,seed=0", "c,seed=0"):
    assert stdout.count(f"{member}: starting") == 1, stdout  # trained by one process only
    with open(workdir / member / "metrics.jsonl") as f:
      assert [json.loads(line)["step"] for line in f] == [1, 2]
  assert not os.path.exists(workdir / "a,seed=0" / "sweep_member.json")

  out, err = _sweep_py(config, workdir).communicate(timeout=TIMEOUT_S)
  assert f"warning: taking over the lock of {workdir / 'a,seed=0'} from process {holder.pid}" in err
  assert "a,seed=0: starting" in out
  assert "b,seed=0: already done, skipped" in out and "c,seed=0: already done, skipped" in out
  with open(workdir / "summary.csv") as f:
    assert [row["state"] for row in csv.DictReader(f)] == ["done"] * 3
  assert not [name for _, _, files in os.walk(workdir) for name in files
              if name.endswith((".tmp", ".lock"))]
