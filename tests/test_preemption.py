"""Save on preemption: SIGTERM mid-run saves the next step and exits with status 143
(runtime/preemption.py); the resumed run ends bit-identical to an uninterrupted one (CPU).

Subprocess runs of train.py on the tiny config (tests/tiny_run.py), slowed to 0.1 s a step so
that the signal lands mid-run, with checkpoint_every_steps larger than the run: one process,
then two processes over jax.distributed with SIGTERM sent to process 1 only.
"""
import signal
import socket
import subprocess
import time

import pytest

from runtime.preemption import PREEMPTED_EXIT_STATUS
from tests.conftest import REPO_ROOT
from tests.tiny_run import run_tiny, tiny_command

_OVERRIDES = ("train.num_steps=40", "train.checkpoint_every_steps=1000",
              "train.log_every_steps=2")
# The signal must be acted on within this many seconds (a step takes about 0.1 s).
_EXIT_WITHIN_S = 15.0


def _free_port() -> int:
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


def _sigterm_after_first_progress_line(workdir):
  """Runs the slowed tiny run, SIGTERMs it after its first progress line ('step 2/40');
  returns (exit status, stdout, stderr, seconds from the signal to the exit)."""
  command, env = tiny_command(workdir, "--step-delay", "0.1", overrides=_OVERRIDES)
  process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  lines = []
  for line in process.stdout:
    lines.append(line)
    if line.startswith("step "):
      break
  signalled = time.monotonic()
  process.send_signal(signal.SIGTERM)
  stdout, stderr = process.communicate(timeout=120)
  return process.returncode, "".join(lines) + stdout, stderr, time.monotonic() - signalled


@pytest.mark.slow
def test_sigterm_saves_the_next_step_and_the_resumed_run_is_bit_identical(tmp_path):
  workdir = tmp_path / "preempted"
  status, stdout, stderr, seconds = _sigterm_after_first_progress_line(workdir)
  assert status == PREEMPTED_EXIT_STATUS == 143, stderr[-3000:]
  assert seconds < _EXIT_WITHIN_S
  last_line = stderr.strip().splitlines()[-1]
  assert last_line.startswith("stopped: preempted (SIGTERM): saved checkpoint "), stderr[-3000:]
  assert "Traceback" not in stderr
  saved = int(last_line.split("saved checkpoint ")[1].split()[0])
  assert 2 <= saved < 40, last_line  # mid-run: after the progress line, before the end

  resumed = run_tiny(workdir, overrides=_OVERRIDES)
  assert resumed.steps("restored") == {saved: resumed.steps("restored")[saved]}
  uninterrupted = run_tiny(tmp_path / "uninterrupted", overrides=_OVERRIDES)
  assert resumed.summary["steps"] == uninterrupted.summary["steps"] == 40
  assert resumed.summary["params_digest"] == uninterrupted.summary["params_digest"]


@pytest.mark.slow
def test_sigterm_to_one_of_two_processes_saves_one_step_on_both(tmp_path):
  """Under jax.distributed, JAX's preemption notifier catches SIGTERM: both processes agree on
  the step (its preemption sync point), save it together and exit 143."""
  workdir = tmp_path / "two"
  address = f"127.0.0.1:{_free_port()}"
  processes = []
  for index in range(2):
    command, env = tiny_command(workdir, "--step-delay", "0.1", "--coordinator", address,
                                "--process-id", str(index), overrides=_OVERRIDES)
    processes.append(subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
  for line in processes[0].stdout:
    if line.startswith("step "):
      break
  processes[1].send_signal(signal.SIGTERM)
  results = [process.communicate(timeout=120) for process in processes]
  assert [p.returncode for p in processes] == [143, 143], [err[-2000:] for _, err in results]
  message = results[0][1].strip().splitlines()[-1]
  saved = int(message.split("saved checkpoint ")[1].split()[0])
  assert (workdir / "checkpoints" / str(saved)).is_dir()
  assert [p.name for p in (workdir / "checkpoints").iterdir()] == [str(saved)]
