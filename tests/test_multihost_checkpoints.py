"""Hosts agree on the checkpoint to restore (runtime/checkpoint_agreement.py): two processes of
one run (tests/tiny_run.py over jax.distributed on localhost, CPU, gloo) resume a finished
8-step run (checkpoints 4 and 8) while only process 1 cannot read some checkpoints
(--fail-reads: its reads of them raise OSError, as a file only one host cannot read)."""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from runtime import checkpointing
from tests.conftest import REPO_ROOT
from tests.tiny_run import run_tiny, tiny_command

_OVERRIDES = ("train.num_steps=8", "train.checkpoint_every_steps=4")
_TIMEOUT_S = 240  # for both processes together: a hang fails the test instead of the suite
_EXITS_WITHIN_S = 20.0  # between the two processes' exits


def _free_port() -> int:
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """A finished 8-step tiny run (one process) with checkpoints 4 and 8; tests copy it."""
  workdir = tmp_path_factory.mktemp("agree") / "run"
  run_tiny(workdir, overrides=_OVERRIDES)
  assert sorted(os.listdir(workdir / "checkpoints")) == ["4", "8"]
  return workdir


def _resume_in_two_processes(workdir, fail_on_process_1):
  """Runs the two processes on `workdir`, process 1 failing reads of `fail_on_process_1`;
  returns [(exit status, JSON records, stderr, exit time)] of processes 0 and 1."""
  address = f"127.0.0.1:{_free_port()}"
  processes = []
  for index in range(2):
    faults = ("--fail-reads", *map(str, fail_on_process_1)) if index == 1 else ()
    command, env = tiny_command(workdir, "--coordinator", address, "--process-id", str(index),
                                *faults, overrides=_OVERRIDES)
    processes.append(subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
  results, deadline = [], time.monotonic() + _TIMEOUT_S
  try:
    for process in processes:
      out, err = process.communicate(timeout=max(deadline - time.monotonic(), 1.0))
      records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
      results.append((process.returncode, records, err, time.monotonic()))
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
  return results


@pytest.mark.slow
def test_both_processes_restore_the_step_every_one_of_them_can_read(finished, tmp_path):
  workdir = shutil.copytree(finished, tmp_path / "run")
  results = _resume_in_two_processes(workdir, fail_on_process_1=[8])
  for status, _, err, _ in results:
    assert status == 0, err[-3000:]
  restored = [[(r["restored"], r["digest"]) for r in records if "restored" in r]
              for _, records, _, _ in results]
  assert restored[0] == restored[1] and [step for step, _ in restored[0]] == [4]
  warning = results[0][2]
  assert "using step 4 instead" in warning and "on process 1 of 2: OSError: simulated" in warning
  assert "using step 4" not in results[1][2]  # process 0 alone warns
  # Process 0 alone moved step 8 aside, once; both then trained 4 -> 8 and saved step 8 again.
  moved = os.listdir(workdir / checkpointing.UNRESTORABLE_SUBDIR)
  assert len(moved) == 1 and moved[0].startswith("8-"), moved
  assert sorted(os.listdir(workdir / "checkpoints")) == ["4", "8"]
  summaries = [records[-1] for _, records, _, _ in results]
  assert summaries[0]["resumed_from_step"] == 4 and summaries[0]["steps"] == 8
  assert summaries[0]["params_digest"] == summaries[1]["params_digest"]


@pytest.mark.slow
def test_both_processes_stop_with_one_message_when_no_step_is_readable_on_all(
    finished, tmp_path):
  workdir = shutil.copytree(finished, tmp_path / "run")
  results = _resume_in_two_processes(workdir, fail_on_process_1=[4, 8])
  for status, _, err, _ in results:
    assert status == 1, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
  err = results[0][2]
  assert err.count("error: None of the checkpoints in ") == 1, err[-3000:]
  message = err[err.index("error: None of the checkpoints"):]  # the end of process 0's stderr
  assert message.strip().endswith("Move the checkpoints directory aside to start the run afresh.")
  assert "step 8: its config cannot be read (on process 1 of 2: OSError: simulated" in message
  assert "step 4: its config cannot be read (on process 1 of 2" in message
  assert "None of the checkpoints" not in results[1][2]  # one message, from process 0
  assert abs(results[0][3] - results[1][3]) < _EXITS_WITHIN_S
  # Nothing was moved or written: the checkpoints are as they were.
  assert not (workdir / checkpointing.UNRESTORABLE_SUBDIR).exists()
  assert sorted(os.listdir(workdir / "checkpoints")) == ["4", "8"]
