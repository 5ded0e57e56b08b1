"""Paired comparisons with bootstrap intervals (evaluate.stats.bootstrap, evaluate.stats.paired,
evaluate.compare) on synthetic per-image files with planted answers: no training."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from evaluate import compare, images, paired_tables
from evaluate.plots import comparison as plots
from evaluate.stats import bootstrap, multiplicity, paired, per_image
from tests.conftest import REPO_ROOT
from tests.synthetic_eval import write_evaluation

def _flips(rng, difficulty, shift=0.0, seeds=1, groups=2):
  """(seeds, N, groups) Bernoulli(difficulty + shift) per seed, image and group."""
  p = np.clip(difficulty + shift, 0, 1)[None, :, None]
  return (rng.random((seeds, len(difficulty), groups)) < p).astype(np.float64)


# --- the bootstrap on planted answers ---------------------------------------------------------


def test_resample_counts_draw_every_item_with_replacement():
  counts = bootstrap.resample_counts(np.random.default_rng(0), 50, 400)
  assert counts.shape == (400, 50) and np.all(counts.sum(1) == 50)
  assert counts.mean() == pytest.approx(1.0) and counts.max() > 1  # with replacement
  assert bootstrap.resample_counts(np.random.default_rng(0), 1, 3).tolist() == [[1]] * 3


def test_identical_runs_give_a_zero_or_narrow_interval_around_zero():
  rng = np.random.default_rng(0)
  one = rng.random((2, 1, 200))
  result = bootstrap.difference_interval(one, one.copy())
  assert np.all(result.diff == 0) and np.all(result.low == 0) and np.all(result.high == 0)
  assert not result.distinguishable.any()
  # Three seeds each, the same three: seeds are resampled per run, so the interval is not a
  # point, but it holds 0 and is narrow next to the spread over images (the images cancel).
  seeds = rng.random((1, 1, 200)) + rng.normal(0, 0.01, (1, 3, 1))
  result = bootstrap.difference_interval(seeds, seeds.copy())
  assert result.low[0] < 0 < result.high[0]
  assert result.high[0] - result.low[0] < 0.25 * (result.a.high[0] - result.a.low[0])


def test_a_planted_difference_is_detected_and_its_interval_holds_it():
  rng = np.random.default_rng(1)
  difficulty = rng.uniform(0, 0.6, 1000)
  a, b = _flips(rng, difficulty, groups=1), _flips(rng, difficulty, 0.1, groups=1)
  result = bootstrap.difference_interval(a[..., 0][None], b[..., 0][None])
  assert result.distinguishable[0] and result.low[0] > 0
  assert result.low[0] < 0.1 < result.high[0]
  assert result.diff[0] == pytest.approx(b.mean() - a.mean())
  # Against the run itself the same difference minus itself: indistinguishable.
  same = bootstrap.difference_interval(a[..., 0][None], a[..., 0][None] + 0.0)
  assert not same.distinguishable[0]


def test_pairing_by_image_narrows_the_interval():
  """Shared image effects cancel in the paired difference; with B's images shuffled (the
  pairing broken) the interval is much wider."""
  rng = np.random.default_rng(2)
  difficulty = rng.uniform(0, 1, 300)
  a = difficulty + rng.normal(0, 0.05, 300)
  b = difficulty + 0.02 + rng.normal(0, 0.05, 300)
  paired_result = bootstrap.difference_interval(a[None, None], b[None, None])
  unpaired = bootstrap.difference_interval(a[None, None], rng.permutation(b)[None, None])
  assert paired_result.distinguishable[0] and not unpaired.distinguishable[0]
  assert (unpaired.high - unpaired.low)[0] > 3 * (paired_result.high - paired_result.low)[0]


def _coverage(replications, make_runs, truth, replicates=1000):
  """(fraction of replications whose interval holds `truth` per metric, mean interval
  width per metric, standard deviation of the estimated difference over replications)."""
  rng = np.random.default_rng(12345)
  hits, widths, estimates = np.zeros(len(truth)), [], []
  for replication in range(replications):
    a, b = make_runs(rng)
    result = bootstrap.difference_interval(a, b, replicates=replicates, seed=replication)
    hits += (result.low <= truth) & (truth <= result.high)
    widths.append(result.high - result.low)
    estimates.append(result.diff)
  return hits / replications, np.mean(widths, 0), np.std(estimates, 0)


def test_interval_covers_the_true_difference_about_95_percent_of_the_time():
  """One seed, 100 images, 200 replications: a binary metric (flip probability of each
  image drawn uniformly in [0, 0.8], B's raised by 0.1: true difference 0.1) and a
  continuous one (image effect + noise, true difference 0.05). The exact binomial 99% range
  of 200 draws at 0.95 is [0.905, 0.985]; measured 0.945 and 0.94."""

  def make_runs(rng):
    difficulty = rng.uniform(0, 0.8, 100)
    flips_a = (rng.random(100) < difficulty).astype(float)
    flips_b = (rng.random(100) < difficulty + 0.1).astype(float)
    image = rng.exponential(0.2, 100)
    change_a = image + rng.normal(0, 0.1, 100)
    change_b = image + 0.05 + rng.normal(0, 0.1, 100)
    return (np.stack([flips_a, change_a])[:, None], np.stack([flips_b, change_b])[:, None])

  coverage, _, _ = _coverage(200, make_runs, np.array([0.1, 0.05]))
  assert np.all((0.90 <= coverage) & (coverage <= 0.98)), coverage


def _binary_seeds(seed_sd):
  """Three seeds per run, per (seed, image) binary flips (the seed x image noise of a
  per-image binary metric), each seed's flip rate shifted by a seed effect (sd seed_sd);
  B flips 0.1 more often."""

  def make_runs(rng):
    difficulty = rng.uniform(0.1, 0.7, 100)
    return [(rng.random((3, 100)) < difficulty + shift + rng.normal(0, seed_sd, (3, 1))
             ).astype(float)[None] for shift in (0.0, 0.1)]
  return make_runs


def _seed_dominated(rng):
  """Three seeds per run, continuous values whose seed effect (sd 0.3) dominates the
  interval: a bootstrap over 3 seeds without the t / z widening covers ~0.88."""
  image = rng.normal(0, 1, 100)
  return [(image + shift + rng.normal(0, 0.3, (3, 1)) + rng.normal(0, 0.5, (3, 100)))[None]
          for shift in (0.0, 0.1)]


@pytest.mark.parametrize("make_runs, widest", [
    (_binary_seeds(0.0), 1.45), (_binary_seeds(0.03), 1.45), (_seed_dominated, 1.8)],
    ids=["binary", "binary+seed_effect", "seed_dominated"])
def test_hierarchical_interval_covers_with_three_seeds(make_runs, widest):
  """The truth is the difference of the expected values over seeds and images (0.1). The
  interval covers it in every regime, at the price of some width where the seed variance
  must be estimated from 3 seeds (width / 3.92 over the spread of the estimate: 1.0 would
  be a normal interval with the true variance). Measured (200 replications): coverage 0.955,
  0.96, 0.96; width ratio 1.17, 1.25, 1.67."""
  coverage, width, spread = _coverage(200, make_runs, np.array([0.1]))
  assert 0.90 <= coverage[0] <= 0.99, coverage
  assert 0.85 < width[0] / 3.92 / spread[0] < widest, (width, spread)


def test_seed_term_scales_with_the_seed_to_seed_variation_beyond_the_noise():
  rng = np.random.default_rng(6)
  noise_only = rng.normal(0, 1, (1, 5, 400))
  assert bootstrap.seed_scale(noise_only)[0] < 0.5
  seed_driven = noise_only + rng.normal(0, 3, (1, 5, 1))
  assert bootstrap.seed_scale(seed_driven)[0] == pytest.approx(np.sqrt(5 / 4), rel=0.01)
  assert bootstrap.seed_scale(noise_only[:, :1])[0] == 0.0  # one seed: images only


def test_bad_shapes_and_values_are_refused():
  with pytest.raises(ValueError, match="cannot pair"):
    bootstrap.difference_interval(np.zeros((1, 1, 5)), np.zeros((1, 1, 6)))
  with pytest.raises(ValueError, match="NaN"):
    bootstrap.mean_interval(np.full((1, 1, 5), np.nan))
  with pytest.raises(ValueError, match="confidence"):
    bootstrap.mean_interval(np.zeros((1, 1, 5)), confidence=1.5)


# --- runs on their per-image files -------------------------------------------------------------


def _runs(tmp_path, rng, seeds=1, shift=0.1, count=120):
  difficulty = rng.uniform(0, 0.7, count)
  dirs = {}
  for label, planted in (("stride", 0.0), ("blur", shift)):
    for seed, flips in enumerate(_flips(rng, difficulty, planted, seeds)):
      dirs.setdefault(label, []).append(write_evaluation(
          tmp_path / f"{label},seed={seed}", {"p_top1_change": flips, "accuracy": 1 - flips}))
  return dirs


def test_compare_runs_writes_every_metric_with_its_interval(tmp_path):
  dirs = _runs(tmp_path, np.random.default_rng(3), seeds=2)
  runs = [paired.load_run(label, ws) for label, ws in dirs.items()]
  result = paired.compare_runs(runs, replicates=500)
  (pair,) = result["pairs"]
  assert (pair["a"], pair["b"], pair["n_images"]) == ("stride", "blur", 120)
  assert (pair["n_seeds_a"], pair["n_seeds_b"], pair["images_left_out"]) == (2, 2, 0)
  protocol = pair["protocols"]["embed"]
  assert set(protocol["metrics"]) == set(per_image.MEAN_METRICS)
  flips = protocol["metrics"]["p_top1_change"]
  assert flips["distinguishable"] and flips["ci_low"] > 0
  assert flips["diff"] == pytest.approx(flips["b"] - flips["a"])
  assert flips["a_ci_low"] < flips["a"] < flips["a_ci_high"]
  accuracy = protocol["metrics"]["accuracy"]
  assert accuracy["diff"] == pytest.approx(-flips["diff"]) and accuracy["ci_high"] < 0
  assert protocol["max_logit_change"] == {"a": 0.5, "b": 0.5, "bootstrapped": False}
  assert protocol["by_group"]["groups"] == [24, 28]
  assert len(protocol["by_group"]["mac"]) == 2
  assert not pair[paired.CLEAN]["distinguishable"]  # every image right in both
  assert "bootstrap" in result["method"] and result["bootstrap_samples"] == 500
  text = paired_tables.markdown(result)
  assert "| embed | P(top-1 change) |" in text and "| yes (Holm p = " in text
  assert "not bootstrapped" in text


def test_whole_test_set_accuracy_is_paired_where_every_evaluation_recorded_it(tmp_path):
  """test_set_accuracy pairs the T test-set images across seeds: a planted difference of 0.3
  on 2,000 images is found with an interval holding it; identical runs differ by exactly 0;
  a run without test_set_correct gives no such entry."""
  rng = np.random.default_rng(5)
  values = {"p_top1_change": rng.random((20, 2))}
  test_sets = {"a": [rng.random(2000) < 0.5 for _ in range(2)],
               "b": [rng.random(2000) < 0.8 for _ in range(2)]}
  dirs = {label: [write_evaluation(tmp_path / f"{label}{seed}", values,
                                   test_set_correct=test_sets[label][seed].astype(float))
                  for seed in range(2)] for label in test_sets}
  runs = [paired.load_run(label, ws) for label, ws in dirs.items()]
  entry = paired.compare_pair(*runs, replicates=500)[paired.TEST_SET]
  assert entry["n_images"] == 2000 and entry["distinguishable"]
  assert entry["ci_low"] < 0.3 < entry["ci_high"] and entry["diff"] == pytest.approx(
      np.mean(test_sets["b"]) - np.mean(test_sets["a"]))
  same = paired.compare_pair(runs[0], runs[0], replicates=200)[paired.TEST_SET]
  assert same["diff"] == 0.0 and not same["distinguishable"]
  bare = paired.load_run("bare", [write_evaluation(tmp_path / "bare", values)])
  assert paired.TEST_SET not in paired.compare_pair(runs[0], bare, replicates=200)


def test_only_shared_images_are_compared(tmp_path):
  values = {"p_top1_change": np.random.default_rng(4).random((100, 2))}
  first = write_evaluation(tmp_path / "a", values, image_indices=np.arange(100))
  second = write_evaluation(tmp_path / "b", values, image_indices=np.arange(50, 150)[::-1])
  pair = paired.compare_pair(paired.load_run("a", [first]), paired.load_run("b", [second]),
                             replicates=100)
  assert pair["n_images"] == 50 and pair["images_left_out"] == 100
  # Images 50..99 are rows 50..99 of a and rows 99..50 of b: different values, same images.
  shared = np.arange(50, 100)
  expected = values["p_top1_change"][149 - shared].mean() - values["p_top1_change"][shared].mean()
  assert pair["protocols"]["embed"]["metrics"]["p_top1_change"]["diff"] == pytest.approx(
      expected)


@pytest.mark.parametrize("change, message", [
    (dict(image_indices=np.arange(200, 300)), "share no test image"),
    (dict(labels=np.arange(100) % 10 + 1), "different test sets"),
    (dict(options={"sizes": [24, 28], "fill": "mean"}), "fill='black' vs 'mean'"),
    (dict(protocol="other"), "no protocol in common"),
])
def test_runs_that_cannot_be_paired_are_refused(tmp_path, change, message):
  values = {"p_top1_change": np.zeros((100, 2))}
  first = write_evaluation(tmp_path / "a", values)
  second = write_evaluation(tmp_path / "b", values, **change)
  with pytest.raises(paired.IncomparableRunsError, match=message):
    paired.compare_runs([paired.load_run("a", [first]), paired.load_run("b", [second])])


def test_repeated_labels_and_globs_group_seeds(tmp_path):
  for name in ("aps,seed=0", "aps,seed=1", "lps,seed=0"):
    (tmp_path / name).mkdir()
  pattern = str(tmp_path / "aps,seed=*")
  assert compare.group_workdirs([pattern, str(tmp_path / "lps,seed=0")]) == {
      "aps": [str(tmp_path / "aps,seed=0"), str(tmp_path / "aps,seed=1")],
      "lps,seed=0": [str(tmp_path / "lps,seed=0")]}
  joined = compare.group_workdirs(
      [str(tmp_path / "aps,seed=0"), str(tmp_path / "aps,seed=1"), str(tmp_path / "lps,seed=0")],
      ["aps", "aps", "lps"])
  assert list(joined) == ["aps", "lps"] and len(joined["aps"]) == 2
  with pytest.raises(FileNotFoundError, match="matches no directory"):
    compare.group_workdirs([str(tmp_path / "nothing,seed=*")])
  with pytest.raises(ValueError, match="one label per"):
    compare.group_workdirs([pattern], ["a", "b"])


def _compare_cli(*flags):
  return subprocess.run([sys.executable, "-m", "evaluate.compare", *flags], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_compare_cli_with_seeds_baseline_and_a_refusal(tmp_path):
  _runs(tmp_path, np.random.default_rng(5), seeds=2)
  write_evaluation(tmp_path / "lps,seed=0", {"p_top1_change": np.zeros((120, 2))})
  out = tmp_path / "cmp"
  result = _compare_cli(f"--workdir={tmp_path}/stride,seed=*", f"--workdir={tmp_path}/blur,seed=*",
                        f"--workdir={tmp_path}/lps,seed=0", "--label=stride", "--label=blur",
                        "--label=lps", "--baseline=stride", "--bootstrap_samples=300",
                        f"--out={out}")
  assert result.returncode == 0, result.stderr
  with open(out / "paired.json") as f:
    saved = json.load(f)
  assert [(p["a"], p["b"]) for p in saved["pairs"]] == [("stride", "blur"), ("stride", "lps")]
  assert saved["runs"]["blur"]["n_seeds"] == 2 and saved["bootstrap_samples"] == 300
  assert saved["pairs"][0]["protocols"]["embed"]["metrics"]["p_top1_change"]["distinguishable"]
  assert "## A = `stride`, B = `blur`" in (out / "paired.md").read_text()
  assert (out / "compare.md").exists() and (out / "metrics_per_protocol.png").exists()
  assert "| stride [stride,seed=1] |" in (out / "compare.md").read_text()

  write_evaluation(tmp_path / "mean", {"p_top1_change": np.zeros((120, 2))},
                   options={"sizes": [24, 28], "fill": "mean"})
  refused = _compare_cli(f"--workdir={tmp_path}/stride,seed=0", f"--workdir={tmp_path}/mean",
                         f"--out={tmp_path / 'refused'}")
  assert refused.returncode == 2
  assert "error: protocol 'embed' differs" in refused.stderr and "Traceback" not in refused.stderr
  assert not (tmp_path / "refused").exists()


# --- protocols on a subset of the images (a protocol entry's num_images) ---------------------


def _subset_run(directory, indices, rows, values_by_index):
  """A fake evaluation of the test images `indices` whose protocol ran on `rows` of them,
  with per-image values looked up by test-set index."""
  return write_evaluation(directory, {"p_top1_change": values_by_index[indices[rows]][:, None]},
                          image_indices=indices, rows=rows, options={"sizes": [24]})


def test_a_protocol_on_a_subset_is_paired_on_the_images_its_subsets_share(tmp_path):
  rng = np.random.default_rng(6)
  indices = np.arange(200)
  values_a = (rng.random(200) < 0.3).astype(float)
  values_b = values_a + 0.25 * (rng.random(200) < 0.8)
  rows_a = images.protocol_image_rows(indices, 60, seed=0)
  shuffled = rng.permutation(indices)  # the same images, evaluated in another order
  rows_b = images.protocol_image_rows(shuffled, 60, seed=0)
  run_a = paired.load_run("a", [_subset_run(tmp_path / "a", indices, rows_a, values_a)])
  run_b = paired.load_run("b", [_subset_run(tmp_path / "b", shuffled, rows_b, values_b)])
  pair = paired.compare_pair(run_a, run_b, replicates=200)
  subset = indices[rows_a]
  assert sorted(shuffled[rows_b]) == list(subset)  # same seed and images: the same subset
  assert pair["n_images"] == 200 and pair["protocols"]["embed"]["n_images"] == 60
  assert pair["protocols"]["embed"]["images_left_out"] == 0
  flips = pair["protocols"]["embed"]["metrics"]["p_top1_change"]
  assert flips["diff"] == pytest.approx(values_b[subset].mean() - values_a[subset].mean())
  assert flips["a"] == pytest.approx(values_a[subset].mean()) and flips["distinguishable"]
  assert "| embed (60 images) | P(top-1 change) |" in paired_tables.markdown(
      paired.compare_runs([run_a, run_b], replicates=50))
  summary = paired.summarise_run(run_a, replicates=100, by_group=True)
  assert summary["n_images"] == 200 and summary["protocols"]["embed"]["n_images"] == 60
  assert summary["protocols"]["embed"]["metrics"]["p_top1_change"]["mean"] == pytest.approx(
      values_a[subset].mean())
  assert summary["protocols"]["embed"]["by_group"] == {  # one size: its pooled value
      "groups": [24], **{metric: [entry] for metric, entry in
                         summary["protocols"]["embed"]["metrics"].items()}}

  # Another eval seed draws another subset: compared on the images both subsets hold.
  rows_c = images.protocol_image_rows(indices, 60, seed=1)
  run_c = paired.load_run("c", [_subset_run(tmp_path / "c", indices, rows_c, values_b)])
  both = np.intersect1d(subset, indices[rows_c])
  assert 0 < both.size < 60
  pair = paired.compare_pair(run_a, run_c, replicates=100)
  assert pair["protocols"]["embed"]["n_images"] == both.size
  assert pair["protocols"]["embed"]["images_left_out"] == 120 - 2 * both.size
  assert pair["protocols"]["embed"]["metrics"]["p_top1_change"]["diff"] == pytest.approx(
      values_b[both].mean() - values_a[both].mean())
  # Subsets without a common image: refused, naming the protocol.
  others = np.setdiff1d(np.arange(200), rows_a)[:60]
  run_d = paired.load_run("d", [_subset_run(tmp_path / "d", indices, others, values_b)])
  with pytest.raises(paired.IncomparableRunsError, match="protocol 'embed' ran on images"):
    paired.compare_pair(run_a, run_d)


def test_version_1_per_image_files_are_read_as_every_protocol_on_every_image(tmp_path):
  directory = write_evaluation(tmp_path / "old", {"p_top1_change": np.zeros((30, 2))})
  path = per_image.find(directory)
  with np.load(path) as data:
    arrays = {key: data[key] for key in data.files if not key.endswith("/rows")}
  meta = json.loads(str(arrays["meta"]))
  meta["format_version"] = 1
  for info in meta["protocols"].values():
    del info["num_images"]
  arrays["meta"] = np.asarray(json.dumps(meta))
  np.savez_compressed(path, **arrays)
  loaded = per_image.load(directory)
  assert list(loaded.protocols["embed"].rows) == list(range(30))
  assert list(loaded.protocol_indices("embed")) == list(range(30))
  meta["format_version"] = 7
  arrays["meta"] = np.asarray(json.dumps(meta))
  np.savez_compressed(path, **arrays)
  with pytest.raises(per_image.PerImageFileError, match="format_version 7"):
    per_image.load(directory)


def test_compare_plots_intervals_where_per_image_files_exist_and_labels_the_fallback(
    tmp_path, monkeypatch):
  """The plots get each run's mean over seeds and images with its interval (ci_low,
  ci_high); a run without per-image files is drawn per workdir with ± standard error,
  labelled; with a baseline, paired_<metric>.png."""
  drawn = {}

  def capture(name):
    original = getattr(plots, name)

    def wrapped(series, path, **kwargs):
      drawn[name] = (series, kwargs)
      return original(series, path, **kwargs)
    monkeypatch.setattr(plots, name, wrapped)

  for name in ("plot_protocol_bars", "plot_paired_differences"):
    capture(name)
  dirs = _runs(tmp_path, np.random.default_rng(7), seeds=2)
  files = compare.compare_workdirs(dirs["stride"] + dirs["blur"], str(tmp_path / "cmp"),
                                   ["stride", "stride", "blur", "blur"], baseline="stride",
                                   replicates=100)
  series, kwargs = drawn["plot_protocol_bars"]
  assert [entry["label"] for entry in series] == ["stride", "blur"]
  flips = series[1]["metrics"]["embed"]["p_top1_change"]
  assert flips["ci_low"] < flips["mean"] < flips["ci_high"] and "95% interval" in kwargs["title"]
  panels, kwargs = drawn["plot_paired_differences"]
  assert [panel["rows"][0]["label"] for panel in panels] == ["blur", "blur"]
  assert panels[1]["rows"][0]["distinguishable"] and "stride" in kwargs["title"]
  assert {os.path.basename(p) for p in files["png"]} >= {
      "paired_p_top1_change.png", "paired_accuracy.png", "paired_mac.png",
      "metrics_per_protocol.png", "invariance_vs_accuracy.png"}

  os.remove(per_image.find(dirs["blur"][1]))
  compare.compare_workdirs(dirs["stride"] + dirs["blur"], str(tmp_path / "cmp2"),
                           ["stride", "stride", "blur", "blur"], replicates=100,
                           say=lambda line: None)
  series, kwargs = drawn["plot_protocol_bars"]
  assert [entry["label"] for entry in series] == [
      "stride", "blur [blur,seed=0] (± s.e.)", "blur [blur,seed=1] (± s.e.)"]
  assert "stderr" in series[1]["metrics"]["embed"]["p_top1_change"]
  assert "95% interval" in kwargs["title"] and "standard error" in kwargs["title"]


def test_paired_plots_leave_out_protocols_without_the_metric(tmp_path, monkeypatch):
  """The shift attack has no pairs of points, so no P(top-1 change): its panel is left out of
  paired_p_top1_change.png (not drawn empty) and kept where it has the metric."""
  from evaluate.plots import intervals as interval_plots  # pylint: disable=g-import-not-at-top
  drawn = {}
  monkeypatch.setattr(plots, "plot_paired_differences",
                      lambda panels, path, **kwargs: drawn.setdefault(path, panels) and path)
  entry = dict(a=0.5, b=0.4, diff=-0.1, ci_low=-0.2, ci_high=-0.05, distinguishable=True)
  comparison = dict(baseline="stride", confidence=0.95,
                    runs={"stride": {"n_seeds": 1}, "aps": {"n_seeds": 1}},
                    pairs=[dict(a="stride", b="aps", n_images=10, clean_accuracy=entry,
                                protocols=dict(
                                    circular=dict(metrics=dict(p_top1_change=entry,
                                                               accuracy=entry)),
                                    shift_attack=dict(metrics=dict(accuracy=entry))))])
  interval_plots.plot_paired_differences(comparison, str(tmp_path),
                                         metrics=("p_top1_change", "accuracy"))
  titles = {os.path.basename(path): [panel["title"].split(":")[0] for panel in panels]
            for path, panels in drawn.items()}
  assert titles["paired_p_top1_change.png"] == ["untransformed images", "circular"]
  assert titles["paired_accuracy.png"] == ["untransformed images", "circular", "shift_attack"]


def test_paired_by_size_draws_each_runs_difference_per_size(tmp_path):
  """paired_by_size_<protocol>.png: a PNG for the protocol with sizes only, a panel per size
  metric, a curve per compared run whose points are paired.json's per-size differences (a
  size without a difference left out)."""
  from evaluate.plots import intervals as interval_plots  # pylint: disable=g-import-not-at-top
  def entry(diff):
    return dict(a=0.5, b=0.5 + diff, diff=diff, ci_low=diff - 0.05, ci_high=diff + 0.05,
                distinguishable=abs(diff) > 0.05)
  grouped = dict(groups=[8, 16, 24], p_top1_change=[entry(-0.2), entry(0.0), None],
                 mac=[entry(-0.1), entry(0.0), entry(0.01)],
                 accuracy=[entry(0.1), entry(0.0), entry(0.0)])
  comparison = dict(baseline="none", confidence=0.95, pairs=[
      dict(a="none", b=label, n_images=10, clean_accuracy=entry(0.0), protocols=dict(
          embed_black=dict(n_images=10, metrics={}, by_group=grouped),
          crop=dict(n_images=10, metrics={}, by_group=None))) for label in ("e16", "c2")])
  curves = interval_plots._size_curve(comparison["pairs"][0], "embed_black", "p_top1_change")
  assert curves["sizes"] == [8, 16, 24] and curves["diff"][:2] == [-0.2, 0.0]
  assert curves["diff"][2] is None and curves["distinguishable"] == [True, False, False]
  assert interval_plots._size_curve(comparison["pairs"][0], "crop", "mac") is None
  paths = interval_plots.plot_paired_by_size(comparison, str(tmp_path))
  assert [os.path.basename(p) for p in paths] == ["paired_by_size_embed_black.png"]
  assert os.path.getsize(paths[0]) > 0


# --- intervals within the possible range; p-values; Holm's adjustment -------------------------


def test_intervals_of_proportions_stay_within_their_range_without_moving_the_verdict():
  """Rare flips on 8 images: the t / z widening about the estimate reaches below 0 for a run
  and below -1 ... +1 never; with bounds (0, 1) each run's interval is clipped to [0, 1] and a
  difference's to [-1, 1], the estimate and the verdict unchanged."""
  rng = np.random.default_rng(11)
  a = (rng.random((40, 3, 8)) < 0.05).astype(float)
  b = (rng.random((40, 3, 8)) < 0.95).astype(float)
  free = bootstrap.difference_interval(a, b, replicates=400)
  assert (free.a.low < 0).any() and (free.b.high > 1).any()  # impossible bounds before
  kept = bootstrap.difference_interval(a, b, replicates=400, bounds=paired.RANGE)
  for run in (kept.a, kept.b):
    assert np.all((0 <= run.low) & (run.low <= run.mean) & (run.mean <= run.high)
                  & (run.high <= 1))
  assert np.all((-1 <= kept.low) & (kept.high <= 1))
  np.testing.assert_array_equal(kept.distinguishable, free.distinguishable)
  np.testing.assert_allclose(kept.low, np.clip(free.low, -1, 1))
  mean = bootstrap.mean_interval(a, replicates=400, bounds=(0.0, 1.0))
  assert np.all(mean.low >= 0) and np.all(mean.high <= 1)


def test_the_p_value_is_below_alpha_exactly_where_the_interval_excludes_zero():
  rng = np.random.default_rng(12)
  a = (rng.random((30, 3, 20)) < 0.3).astype(float)
  b = (rng.random((30, 3, 20)) < rng.uniform(0.2, 0.8, (30, 1, 1))).astype(float)
  for confidence in (0.9, 0.95):
    result = bootstrap.difference_interval(a, b, replicates=500, confidence=confidence)
    np.testing.assert_array_equal(result.p_value < 1 - confidence, result.distinguishable)
  assert result.p_value.min() == pytest.approx(1 / 500)  # the resolution of 500 replicates
  same = bootstrap.difference_interval(a, a.copy(), replicates=100)
  assert np.all(same.p_value == 1.0)  # every replicate 0: no interval excludes 0


def test_holm_adjusts_step_down_and_keeps_the_order():
  adjusted = multiplicity.holm([0.01, 0.04, 0.03, 0.005])
  np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
  assert multiplicity.holm([0.2])[0] == 0.2 and multiplicity.holm([0.6, 0.7]).max() == 1.0


def _families(rng, planted, families=200, size=10, images=200):
  """Per family, each comparison's unadjusted and Holm-adjusted verdicts: `size` paired
  comparisons of binary flips on `images` images, one seed, B shifted by `planted` (size,)."""
  unadjusted, adjusted = [], []
  for family in range(families):
    difficulty = rng.uniform(0.1, 0.6, (size, 1, images))
    a = (rng.random((size, 1, images)) < difficulty).astype(float)
    b = (rng.random((size, 1, images)) < difficulty + planted[:, None, None]).astype(float)
    result = bootstrap.difference_interval(a, b, replicates=2000, seed=family,
                                           bounds=paired.RANGE)
    unadjusted.append(result.distinguishable)
    adjusted.append(result.distinguishable & (multiplicity.holm(result.p_value) < 0.05))
  return np.array(unadjusted), np.array(adjusted)


def test_holm_keeps_the_family_wise_error_near_5_percent_and_finds_large_planted_effects():
  """200 families of 10 null comparisons on 200 images (fixed seed): at least one false
  'distinguishable' in many families unadjusted (1 - 0.95^10 = 0.40 expected), in about 5%
  after Holm; with 4 large effects planted among 6 nulls, Holm still finds them and calls
  few nulls."""
  rng = np.random.default_rng(2026)
  unadjusted, adjusted = _families(rng, np.zeros(10))
  print("family-wise error: unadjusted", unadjusted.any(1).mean(), "Holm",
        adjusted.any(1).mean())
  assert unadjusted.any(1).mean() > 0.25
  assert adjusted.any(1).mean() <= 0.07
  planted = np.r_[np.full(4, 0.25), np.zeros(6)]
  unadjusted, adjusted = _families(rng, planted, families=60)
  assert adjusted[:, :4].mean() > 0.95  # the large effects are found after adjustment
  assert adjusted[:, 4:].any(1).mean() <= 0.1 < unadjusted[:, 4:].any(1).mean()


def test_compare_runs_adjusts_every_entry_within_its_declared_family(tmp_path):
  rng = np.random.default_rng(3)
  dirs = _runs(tmp_path / "one", rng, seeds=2)
  third = _runs(tmp_path / "two", rng, seeds=2, shift=0.0)["blur"]
  runs = [paired.load_run(label, ws) for label, ws in {**dirs, "same": third}.items()]
  result = paired.compare_runs(runs, baseline="stride", replicates=500)
  families = result["multiplicity"]["families"]
  assert families["p_top1_change: all protocols x members vs baseline"] == 2
  assert families["clean_accuracy: members vs baseline"] == 2
  assert families["mac of embed per size: sizes x members vs baseline"] == 4
  for pair in result["pairs"]:
    entries = [pair[paired.CLEAN], *pair["protocols"]["embed"]["metrics"].values()]
    grouped = pair["protocols"]["embed"]["by_group"]
    entries += [e for metric, es in grouped.items() if metric != "groups" for e in es if e]
    for entry in entries:
      assert entry["family"] in families and entry["p_adjusted"] >= entry["p_value"]
      assert entry["distinguishable_adjusted"] <= entry["distinguishable"]
      assert -1 <= entry["ci_low"] and entry["ci_high"] <= 1
      assert 0 <= entry["a_ci_low"] and entry["b_ci_high"] <= 1
  flips = result["pairs"][0]["protocols"]["embed"]["metrics"]["p_top1_change"]
  assert flips["distinguishable_adjusted"]  # the planted shift of 0.1 on 120 images
  text = paired_tables.markdown(result)
  assert "Multiple comparisons: Holm" in text and "yes (Holm p = " in text
