"""Every shipped config starts on 8 (fake CPU) devices, and evaluation does not depend on the
device count: 1- and 8-device accuracies (and grid probabilities, and the shift attack's
results) of the same weights agree; a training batch that does not divide over the 8 devices
is refused."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # every test here starts processes

SCRIPT = os.path.join(REPO_ROOT, "tests", "configs_on_devices.py")
# Cheaper XLA CPU compilation: compile time dominates these one-step runs.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def test_every_config_runs_a_step_and_evaluates_on_8_devices(tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count=8 {FAST_COMPILE}")
  result = subprocess.run([sys.executable, SCRIPT, str(tmp_path)], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  found = json.loads(result.stdout.strip().splitlines()[-1])
  assert found["devices"] == 8
  shipped = [os.path.relpath(path, REPO_ROOT) for folder in ("configs", "configs/sweeps")
             for path in sorted(os.scandir(os.path.join(REPO_ROOT, folder)), key=str)
             if path.name.endswith(".py") and path.name not in ("__init__.py", "scales.py")]
  assert set(shipped) <= set(found["checked"])
  assert {run["model"] for run in found["configs"].values()} == {
      "afvit", "alexnet", "alexnet_nostride", "resnet20", "resnet18", "vit", "cct"}
  for spec, run in found["configs"].items():
    assert run["devices"] == 8, spec
    assert run["accuracy"] == run["accuracy_one_device"], spec
    assert 0.0 <= run["accuracy"] <= 1.0
  assert found["grid_shape"][0] == 3
  assert found["grid_max_difference"] < 1e-5
  assert found["attack_max_difference"] < 1e-4 and found["attack_same_verdicts"]
  # A batch that does not divide over the devices is the project's own error (train.py
  # prints it as one line, exit status 1: tests/test_user_errors.py), raised before training.
  assert found["batch_12_error"].startswith("ConfigError: config.train.batch_size=12 does not "
                                            "divide over the 8 devices"), found["batch_12_error"]
