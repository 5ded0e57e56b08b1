"""Save on preemption: SIGTERM mid-run saves the next step and exits with status 143
(runtime/preemption.py); the resumed run ends bit-identical to an uninterrupted one (CPU).

One subprocess run of train.py on the tiny config (tests/tiny_run.py), slowed to 0.1 s a step
so that the signal lands mid-run, with checkpoint_every_steps larger than the run.
"""
import signal
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
