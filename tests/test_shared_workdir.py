"""A multi-host run whose processes do not share the workdir stops at once
(runtime/shared_workdir.py): two train.py processes joined by jax.distributed on localhost
(gloo), each given a different directory as --workdir, as per-host local disks would."""
import os
import socket
import subprocess
import sys
import time

import pytest

from runtime import shared_workdir
from tests.conftest import REPO_ROOT

FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
TIMEOUT_S = 300


def test_one_process_checks_nothing(tmp_path):
  shared_workdir.check_shared(str(tmp_path))
  assert os.listdir(tmp_path) == []


def _free_port() -> int:
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


def _train_pair(workdirs):
  """Two train.py processes of one run (tiny synthetic quickstart), process i on workdirs[i]."""
  address = f"127.0.0.1:{_free_port()}"
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": f"--xla_force_host_platform_device_count=1 {FAST_COMPILE}"}
  return [subprocess.Popen(
      [sys.executable, "train.py", "--config=configs/quickstart.py", f"--workdir={workdir}",
       "--config.data.source=synthetic", "--config.model.width=4",
       f"--coordinator_address={address}", "--num_processes=2", f"--process_id={index}"],
      cwd=REPO_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
      for index, workdir in enumerate(workdirs)]


@pytest.mark.slow
def test_processes_that_see_different_workdirs_all_stop_at_once(tmp_path):
  workdirs = [tmp_path / "host0" / "run", tmp_path / "host1" / "run"]
  processes = _train_pair(workdirs)
  results = []
  for process in processes:
    _, err = process.communicate(timeout=TIMEOUT_S)
    results.append((process.returncode, err, time.monotonic()))
  for returncode, err, _ in results:
    assert returncode == 1, err[-3000:]
    assert "must be on a file system every host shares" in err, err[-3000:]
    assert "process 1 of 2" in err and "cannot read" in err, err[-3000:]
  assert abs(results[0][2] - results[1][2]) < 20  # seconds between the two exits
  # Stopped before training: nothing left behind (the lock removes the workdir it created).
  assert not workdirs[0].exists() and not workdirs[1].exists()
