"""Seeds paired by config.seed (pair_seeds; evaluate/stats/bootstrap.py, "Paired seeds"): one
seed resample per replicate shared by runs A and B, seed j of A with the seed of B trained with
the same seed number; refused where the seed numbers differ."""
import json
import subprocess
import sys

import numpy as np
import pytest

from evaluate import compare
from evaluate.stats import bootstrap, paired
from evaluate.stats import compare as stats_compare
from tests.conftest import REPO_ROOT
from tests.synthetic_eval import write_evaluation


def _shared_seed_effect(rng, seeds=5, images=200, seed_sd=0.5, shift=0.1):
  """(A, B) (1, S, N): image effect and a per-seed effect both runs share, B = A + shift +
  small independent noise."""
  base = rng.normal(0, 1, images) + rng.normal(0, seed_sd, (seeds, 1))
  return [(base + planted + rng.normal(0, 0.05, (seeds, images)))[None]
          for planted in (0.0, shift)]


def test_a_shared_per_seed_offset_cancels_under_pairing():
  """B = A + 0.1 exactly: with pair_seeds every replicate of B - A is 0.1 (the interval
  [0.1, 0.1] to float rounding) however much A's seeds differ; resampled independently, the
  seed effect both share widens the interval by its full spread."""
  rng = np.random.default_rng(0)
  a = (rng.normal(0, 1, 50) + rng.normal(0, 1.0, (4, 1)))[None]
  b = a + 0.1
  joint = bootstrap.difference_interval(a, b, replicates=300, pair_seeds=True)
  apart = bootstrap.difference_interval(a, b, replicates=300)
  assert joint.low[0] == pytest.approx(0.1, abs=1e-12)
  assert joint.high[0] == pytest.approx(0.1, abs=1e-12)
  assert apart.high[0] - apart.low[0] > 0.5


def test_pairing_narrows_the_interval_and_still_holds_the_difference():
  rng = np.random.default_rng(1)
  a, b = _shared_seed_effect(rng)
  joint = bootstrap.difference_interval(a, b, replicates=500, pair_seeds=True)
  apart = bootstrap.difference_interval(a, b, replicates=500)
  # (coverage of the paired interval: experiments/bootstrap_coverage.py, docs/evaluation.md)
  assert abs(joint.diff[0] - 0.1) < 0.01 and joint.low[0] < joint.diff[0] < joint.high[0]
  assert (joint.high[0] - joint.low[0]) * 5 < apart.high[0] - apart.low[0]
  assert joint.distinguishable[0] and not apart.distinguishable[0]
  # Each run's own interval keeps its seed spread: pairing changes only the difference.
  assert joint.a.high[0] - joint.a.low[0] > 0.3


def test_pairing_independent_seeds_keeps_the_interval_about_the_same():
  """Seeds that share nothing: the paired interval is about as wide as the unpaired one."""
  rng = np.random.default_rng(2)
  image = rng.normal(0, 1, 200)
  a, b = [(image + planted + rng.normal(0, 0.5, (5, 1))
           + rng.normal(0, 0.05, (5, 200)))[None] for planted in (0.0, 0.1)]
  joint = bootstrap.difference_interval(a, b, replicates=1000, pair_seeds=True)
  apart = bootstrap.difference_interval(a, b, replicates=1000)
  ratio = (joint.high[0] - joint.low[0]) / (apart.high[0] - apart.low[0])
  assert 0.7 < ratio < 1.3


def test_pairing_needs_as_many_seeds_in_both_runs():
  with pytest.raises(ValueError, match="A has 3 seeds and B 2"):
    bootstrap.difference_interval(np.zeros((1, 3, 10)), np.zeros((1, 2, 10)), pair_seeds=True)


def _seeded_runs(tmp_path, seeds_a, seeds_b, shift=0.1):
  """Runs 'a' and 'b' whose seed s shares the per-seed effect effect[s] (continuous values)."""
  rng = np.random.default_rng(3)
  image = rng.uniform(0.2, 0.6, 80)
  effect = {s: rng.normal(0, 0.15) for s in set(seeds_a) | set(seeds_b)}
  runs = []
  for label, planted, seeds in (("a", 0.0, seeds_a), ("b", shift, seeds_b)):
    dirs = []
    for s in seeds:
      values = np.clip(image + planted + effect[s] + rng.normal(0, 0.01, 80), 0, 1)
      directory = tmp_path / f"{label},seed={s}"
      dirs.append(write_evaluation(directory, {"mac": np.stack([values, values], 1)}))
      (directory / "config.json").write_text(json.dumps({"seed": s}))
    runs.append(paired.load_run(label, dirs, seeds))
  return runs


def test_seeds_are_paired_by_number_not_by_position(tmp_path):
  a, b = _seeded_runs(tmp_path, [0, 1, 2], [2, 0, 1])
  order = [1, 2, 0]  # b's workdirs of seeds 0, 1, 2
  aligned = paired.Run("b", tuple(b.workdirs[i] for i in order),
                       tuple(b.files[i] for i in order), (0, 1, 2))
  joint = paired.compare_runs([a, b], replicates=300, pair_seeds=True)
  (pair,) = joint["pairs"]
  assert joint["seed_pairing"] == "joint" and pair["seeds"] == [0, 1, 2]
  assert "paired by config.seed" in joint["method"]
  reference = paired.compare_pair(a, aligned, replicates=300, pair_seeds=True)
  mac, expected = (p["protocols"]["embed"]["metrics"]["mac"] for p in (pair, reference))
  assert (mac["ci_low"], mac["ci_high"]) == (expected["ci_low"], expected["ci_high"])
  apart = paired.compare_runs([a, b], replicates=300)
  assert apart["seed_pairing"] == "independent" and "seeds" not in apart["pairs"][0]
  wide = apart["pairs"][0]["protocols"]["embed"]["metrics"]["mac"]
  assert mac["ci_high"] - mac["ci_low"] < (wide["ci_high"] - wide["ci_low"]) / 3


@pytest.mark.parametrize("seeds_a, seeds_b, message", [
    ([0, 1, 2], [0, 1, 3], r"run 'a' has seeds \[0, 1, 2\] and run 'b' has seeds \[0, 1, 3\]"),
    ([0, 1], [0, 1, 2], "the same seed numbers in both"),
    ([0, 0], [0, 1], "repeated seed numbers"),
])
def test_different_seed_sets_are_refused(tmp_path, seeds_a, seeds_b, message):
  a, b = _seeded_runs(tmp_path, seeds_a, seeds_b)
  with pytest.raises(paired.IncomparableRunsError, match=message):
    paired.compare_runs([a, b], replicates=50, pair_seeds=True)
  unknown = paired.Run(label="c", workdirs=a.workdirs, files=a.files)
  with pytest.raises(paired.IncomparableRunsError, match="seed numbers of run 'c' are not"):
    paired.compare_pair(unknown, b, replicates=50, pair_seeds=True)


def test_compare_reads_the_seeds_from_config_json(tmp_path):
  a, b = _seeded_runs(tmp_path, [0, 1], [1, 0])
  runs = {"a": list(a.workdirs), "b": list(b.workdirs)}
  assert compare.run_seeds(runs) == {"a": [0, 1], "b": [1, 0]}
  _, comparison = stats_compare.summarise_and_compare(
      runs, replicates=50, seeds=compare.run_seeds(runs), pair_seeds=True, say=lambda _: None)
  assert comparison["seed_pairing"] == "joint" and comparison["pairs"][0]["seeds"] == [0, 1]
  # An evaluation's own directory inside a workdir reads its parent's config.json.
  inside = {"a": [str(tmp_path / "a,seed=1" / "eval")]}
  assert compare.run_seeds(inside) == {"a": [1]}
  (tmp_path / "a,seed=0" / "config.json").unlink()
  with pytest.raises(ValueError, match="--pair_seeds needs each workdir's seed"):
    compare.run_seeds(runs)


def _compare_cli(*flags):
  return subprocess.run([sys.executable, "-m", "evaluate.compare", *flags], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_compare_cli_pairs_seeds_and_refuses_other_seed_numbers(tmp_path):
  _seeded_runs(tmp_path, [0, 1], [1, 0])
  out = tmp_path / "cmp"
  result = _compare_cli(f"--workdir={tmp_path}/a,seed=*", f"--workdir={tmp_path}/b,seed=*",
                        "--baseline=a", "--pair_seeds", "--bootstrap_samples=100",
                        f"--out={out}")
  assert result.returncode == 0, result.stderr
  saved = json.loads((out / "paired.json").read_text())
  assert saved["seed_pairing"] == "joint" and saved["pairs"][0]["seeds"] == [0, 1]
  (tmp_path / "b,seed=1" / "config.json").write_text(json.dumps({"seed": 5}))
  refused = _compare_cli(f"--workdir={tmp_path}/a,seed=*", f"--workdir={tmp_path}/b,seed=*",
                         "--pair_seeds", f"--out={tmp_path / 'refused'}")
  assert refused.returncode == 2 and "Traceback" not in refused.stderr
  assert "cannot pair seeds: run 'a' has seeds [0, 1] and run 'b' has seeds [0, 5]" in (
      refused.stderr)
  assert not (tmp_path / "refused").exists()
