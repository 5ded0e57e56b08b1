"""benchmarks/device_suite.sh --tiny on CPU (some of its steps: the suite budget is tight; the
slice step is sweeps/paper_scale.py --tiny, tested in tests/test_paper_scale.py), the
transformers in the suite and its time budget (read from the script), and
benchmarks/time_to_accuracy.py."""
import json
import os
import re
import subprocess
import sys

import pytest

from benchmarks.time_to_accuracy import time_to_accuracy
from tests.conftest import REPO_ROOT

SUITE = os.path.join(REPO_ROOT, "benchmarks", "device_suite.sh")
# The vision transformers' run configs (issue 28): each must be trained by the suite.
TRANSFORMER_CONFIGS = ("configs/vit.py", "configs/cct.py", "configs/afvit.py")


def _script():
  with open(SUITE) as f:
    return f.read()


def _full_scale_limits(script):
  """The step time limits (seconds) of the suite's full-scale (non --tiny) branch."""
  full_scale = script.split("\nelse\n", 1)[1].split("\nfi\n", 1)[0]
  return [int(n) for n in re.search(r"LIMITS=\(([\d ]+)\)", full_scale).group(1).split()]


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


def test_full_scale_step_limits_sum_to_at_most_the_budget_in_the_header():
  script = _script()
  minutes = int(re.search(r"sized to at most (\d+) minutes", script).group(1))
  limits = _full_scale_limits(script)
  # One limit per step or part of a step: env, peer, accuracy, grid, slice, and the
  # transformers' five parts (peer, vit, cct, afvit, exactness).
  assert len(limits) == 10 and all(limit > 0 for limit in limits)
  assert sum(limits) <= 60 * minutes, (sum(limits), minutes)


def test_the_transformers_are_a_default_step_of_the_suite():
  script = _script()
  default_steps = re.search(r'ALL_STEPS="([\w,]+)"', script).group(1).split(",")
  assert "transformers" in default_steps
  transformer_step = script.split("if wants transformers; then", 1)[1].split("\nfi\n", 1)[0]
  trained = re.findall(r"train\.py --config (\S+)", transformer_step)
  assert sorted(trained) == sorted(TRANSFORMER_CONFIGS)
  # The exactness check: afvit with random weights, the anchored vit trained.
  assert "experiments.shift_exactness --models=afvit" in transformer_step
  anchored = re.search(r"VIT_APS=\(([^)]*)\)", transformer_step).group(1).split()
  assert sorted(anchored) == ["--config.model.downsample=aps", "--config.model.padding=circular",
                              "--config.model.posemb=peg"]
  assert "benchmarks.pytorch_peer" in transformer_step and "--models=vit,cct" in script


@pytest.mark.slow
def test_tiny_transformers_step_trains_each_and_measures_their_exactness(tmp_path):
  completed = _suite(tmp_path, "--tiny", "--steps=transformers")
  out = tmp_path / "out"
  assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
  assert sorted(os.listdir(out)) == ["suite.log", "summary.txt", "transformers.txt"]
  summary = (out / "summary.txt").read_text().splitlines()
  assert [line.split(":")[0] for line in summary] == [
      "transformer_peer", "vit_aps_peg", "cct", "afvit", "transformer_exactness"]
  assert all(": ok in" in line for line in summary)
  report = (out / "transformers.txt").read_text()
  assert "afvit" in report and report.count("trained: ") == 2
