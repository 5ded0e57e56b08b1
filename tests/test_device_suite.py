"""benchmarks/device_suite.sh --tiny on CPU (some of its steps: the suite budget is tight; the
slice step is sweeps/paper_scale.py --tiny, tested in tests/test_paper_scale.py), and
benchmarks/time_to_accuracy.py."""
import json
import os
import subprocess
import sys

import pytest

from benchmarks.time_to_accuracy import time_to_accuracy
from tests.conftest import REPO_ROOT

SUITE = os.path.join(REPO_ROOT, "benchmarks", "device_suite.sh")


def _suite(tmp_path, *args):
  env = dict(os.environ, PYTHON=sys.executable, OUT=str(tmp_path / "out"),
             WORK=str(tmp_path / "work"))
  (tmp_path / "work").mkdir(exist_ok=True)
  return subprocess.run(["bash", SUITE, *args], env=env, capture_output=True, text=True,
                        timeout=600)


@pytest.mark.slow
def test_tiny_suite_writes_its_results_under_out(tmp_path):
  completed = _suite(tmp_path, "--tiny", "--steps=env,accuracy")
  out = tmp_path / "out"
  assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
  assert sorted(os.listdir(out)) == ["env.txt", "suite.log", "summary.txt", "time_to_94.json"]
  summary = (out / "summary.txt").read_text().splitlines()
  assert [line.split(":")[0] for line in summary] == ["env", "accuracy"]
  assert all(": ok in" in line for line in summary)
  assert "jax" in (out / "env.txt").read_text()
  result = json.loads((out / "time_to_94.json").read_text())
  assert result["target"] == 0.3 and isinstance(result["reached"], bool)
  assert result["wall_time_sec"] > 0 and result["best_test_accuracy"] is not None


@pytest.mark.slow
def test_unknown_step_is_refused_before_anything_runs(tmp_path):
  completed = _suite(tmp_path, "--steps=env,bogus")
  assert completed.returncode == 2 and "unknown step 'bogus'" in completed.stderr
  assert not (tmp_path / "out").exists()


def test_time_to_accuracy_counts_train_time_up_to_the_first_evaluation_at_target():
  records = [
      {"step": 10, "epoch": 0.5, "images_per_sec": 100.0},
      {"step": 20, "epoch": 1.0, "images_per_sec": 50.0, "test_accuracy": 0.5},
      {"step": 30, "epoch": 1.5, "test_accuracy": 0.8},   # evaluated between two logs
      {"step": 40, "epoch": 2.0, "images_per_sec": 200.0, "test_accuracy": 0.9},
  ]
  # batch 10: 100/100 + 100/50 = 3 s to step 20; then 100 images at the next log's 200 img/s.
  result = time_to_accuracy(records, 0.75, batch_size=10)
  assert result == {"reached": True, "epoch": 1.5, "step": 30, "train_seconds": 3.5,
                    "best_test_accuracy": 0.8}
  missed = time_to_accuracy(records, 0.95, batch_size=10)
  assert not missed["reached"] and missed["train_seconds"] is None
  assert missed["best_test_accuracy"] == 0.9
