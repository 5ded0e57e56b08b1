"""The evaluation's reporting side: evaluate_workdir end to end, reports, plots, compare, errors.

A tiny run is trained once per module (synthetic data, 16 test images) and evaluated once with
small grids; most tests read what that evaluation wrote (marked slow: the fixture trains).
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from common.registry import UnknownNameError
from evaluate import compare, images, jagged, metrics, protocols, report, run
from evaluate.stats import per_image
from evaluate import config as eval_config
from evaluate.config import complete_eval_config, default_eval_config, get_config
from pipeline.train_then_evaluate import train_and_evaluate
from tests.conftest import REPO_ROOT, tiny_config

NUM_TEST_IMAGES = 16
CIRCULAR_IMAGES = 6  # the circular protocol runs on a subset of the 16 (its num_images)
TINY_EVAL = dict(
    num_images=0,  # all 16, so the untransformed accuracy must equal training's test accuracy
    image_selection="first",
    num_jagged_images=2,
    protocols=dict(
        crop=dict(type="crop_shift", scale=1.125),
        embed=dict(type="embed_shift", sizes=(28, 30), fill="black"),
        scale=dict(type="embed_scale", sizes=(24, 28)),
        circular=dict(type="circular_shift", max_shift=1, num_images=CIRCULAR_IMAGES),
        sampled=dict(type="embed_shift", sizes=(20, 24), fill="inpaint", sample_pairs=2),
    ))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
  """(workdir, training summary, evaluation report) of the tiny run."""
  workdir = str(tmp_path_factory.mktemp("tiny_run"))
  config = tiny_config()
  config.data.synthetic_test_size = NUM_TEST_IMAGES
  summary = train_and_evaluate(config, workdir)
  eval_report = run.evaluate_workdir(workdir, TINY_EVAL, verbose=False)
  return workdir, summary, eval_report


def _eval_file(workdir, name):
  return os.path.join(workdir, "eval", name)


@pytest.mark.slow
def test_eval_json_holds_every_metric_and_the_run_facts(evaluated):
  workdir, summary, eval_report = evaluated
  with open(_eval_file(workdir, "eval.json")) as f:
    saved = json.load(f)
  assert saved["checkpoint_step"] == summary["steps"] == 12
  assert saved["num_images"] == NUM_TEST_IMAGES and saved["seed"] == 0
  assert saved["image_indices"] == list(range(NUM_TEST_IMAGES))
  assert saved["model"]["name"] == "alexnet"
  assert saved["matmul_precision"] == "highest"
  assert saved["clean_accuracy"]["mean"] == pytest.approx(summary["final_test_accuracy"])
  assert set(saved["protocols"]) == set(TINY_EVAL["protocols"])
  for name, entry in saved["protocols"].items():
    assert entry["type"] == TINY_EVAL["protocols"][name]["type"]
    assert set(entry["metrics"]) == {"accuracy", "worst_case_accuracy", "consistency",
                                     "p_top1_change", "mac", "stable_prediction"}
    assert entry["adversarial"]["exhaustive"] == (not entry["sampled"])
    for metric in entry["metrics"].values():
      assert 0.0 <= metric["mean"] <= 1.0 and metric["stderr"] >= 0.0
    assert entry["max_logit_change"] >= 0.0
    several = TINY_EVAL["protocols"][name]["type"].startswith("embed")
    assert entry["pooling"] == (metrics.POOLING if several else metrics.POOLING_ONE_GROUP)
    # No transform can beat being right everywhere: worst case <= mean accuracy.
    assert entry["metrics"]["worst_case_accuracy"]["mean"] <= entry["metrics"]["accuracy"]["mean"]
  embed = saved["protocols"]["embed"]
  assert embed["options"]["fill"] == "black" and "fill_meaning" in embed["options"]
  assert embed["num_grid_points"] == 5 ** 2 + 3 ** 2
  assert embed["by_group"]["p_top1_change"]["group"] == [28, 30]
  assert saved["protocols"]["scale"]["by_group"]["mac"]["group"] == [24, 28]
  assert embed["by_group"]["max_logit_change"]["group"] == [28, 30]
  assert embed["max_logit_change"] == max(embed["by_group"]["max_logit_change"]["max"])
  sampled = saved["protocols"]["sampled"]
  assert sampled["sampled"] and sampled["per_grid_point"] is None
  assert sampled["num_grid_points"] == 2 * 2 * 2 + 2 * 2  # 2 pairs + 2 points per size
  assert sampled["sampling"]["points_per_group"] == {"group": [20, 24], "count": [2, 2]}
  assert "upper bound" in sampled["sampling"]["note"]
  assert saved["protocols"]["embed"]["sampling"] is None
  # Every protocol on all 16 images, except circular on the 6 its num_images draws.
  subset = images.protocol_image_rows(np.arange(NUM_TEST_IMAGES), CIRCULAR_IMAGES, seed=0)
  for name, entry in saved["protocols"].items():
    expected = list(subset) if name == "circular" else list(range(NUM_TEST_IMAGES))
    assert entry["image_indices"] == expected and entry["num_images"] == len(expected)
  assert "num_images" not in saved["protocols"]["circular"]["options"]
  assert saved == json.loads(json.dumps({k: v for k, v in eval_report.items() if k != "files"}))


@pytest.mark.slow
def test_grid_accuracy_averages_to_the_protocol_accuracy(evaluated):
  _, _, eval_report = evaluated
  for name in ("crop", "embed", "circular"):
    entry = eval_report["protocols"][name]
    per_point = entry["per_grid_point"]
    assert len(per_point["accuracy"]) == entry["num_grid_points"]
    # Equal weight per size (one size for crop and circular), not per grid point.
    sizes = np.asarray(per_point["grid"].get("size", np.zeros(entry["num_grid_points"])))
    accuracy = np.asarray(per_point["accuracy"])
    per_size = [accuracy[sizes == size].mean() for size in np.unique(sizes)]
    assert np.mean(per_size) == pytest.approx(entry["metrics"]["accuracy"]["mean"])
    if entry["by_group"]:
      assert entry["by_group"]["accuracy"]["mean"] == pytest.approx(per_size)


def test_per_image_file_holds_the_whole_test_set_at_the_runs_accuracy(evaluated):
  """test_set_correct: one value per test-set image whose mean is the training summary's
  final_test_accuracy (the same weights on the same images); the evaluated images' rows
  agree with clean_correct."""
  workdir, summary, _ = evaluated
  saved = per_image.load(workdir)
  assert saved.test_set_correct.shape == (NUM_TEST_IMAGES,)
  assert saved.test_set_correct.mean() == pytest.approx(summary["final_test_accuracy"])
  np.testing.assert_array_equal(saved.test_set_correct[saved.image_indices],
                                saved.clean_correct)


def _mean_and_stderr(per_image_values):
  """Independent of evaluate/: mean and standard error (ddof 1) over images."""
  count = len(per_image_values)
  return per_image_values.mean(), per_image_values.std(ddof=1) / np.sqrt(count)


@pytest.mark.slow
def test_per_image_file_recomputes_every_summary_of_eval_json(evaluated):
  """per_image.npz holds every metric per image and size; its means and standard errors,
  per size and pooled over sizes (each image's mean over its sizes), are eval.json's."""
  workdir, _, eval_report = evaluated
  with np.load(_eval_file(workdir, "per_image.npz")) as data:
    saved = {key: data[key] for key in data.files}
  meta = json.loads(str(saved["meta"]))
  assert list(saved["image_indices"]) == eval_report["image_indices"]
  assert set(meta["protocols"]) == set(TINY_EVAL["protocols"])
  mean, stderr = _mean_and_stderr(saved["clean_correct"])
  assert eval_report["clean_accuracy"] == {"mean": pytest.approx(mean),
                                           "stderr": pytest.approx(stderr)}
  for name, entry in eval_report["protocols"].items():
    assert meta["protocols"][name]["options"] == entry["options"]
    # The protocol's rows of the evaluated images (a subset for circular's num_images).
    rows = saved[f"{name}/rows"]
    assert list(saved["image_indices"][rows]) == entry["image_indices"]
    assert meta["protocols"][name]["num_images"] == len(rows) == entry["num_images"]
    groups = saved[f"{name}/groups"]
    for metric, summary in entry["metrics"].items():
      values = saved[f"{name}/{metric}"]
      assert values.shape == (len(rows), len(groups))
      mean, stderr = _mean_and_stderr(values.mean(1))  # equal weight per size
      assert summary["mean"] == pytest.approx(mean, abs=1e-12)
      assert summary["stderr"] == pytest.approx(stderr, abs=1e-12)
      if entry["by_group"] and metric in entry["by_group"]:
        assert entry["by_group"][metric]["group"] == list(groups)
        for k, group_values in enumerate(values.T):
          mean, stderr = _mean_and_stderr(group_values)
          assert entry["by_group"][metric]["mean"][k] == pytest.approx(mean, abs=1e-12)
          assert entry["by_group"][metric]["stderr"][k] == pytest.approx(stderr, abs=1e-12)
    adversarial = entry["adversarial"]
    for metric in ("stable_prediction", "worst_case_accuracy"):
      assert set(np.unique(saved[f"{name}/{metric}"])) <= {0.0, 1.0}
      assert adversarial[metric]["mean"] == pytest.approx(
          saved[f"{name}/{metric}"].mean(1).mean())
    assert entry["max_logit_change"] == pytest.approx(saved[f"{name}/max_logit_change"].max())


def test_change_per_grid_point_averages_to_p_top1_change():
  protocol = protocols.build_protocol("embed_shift", sizes=[28, 29], direction="all")
  rng = np.random.default_rng(0)
  probs = rng.dirichlet(np.ones(4) * 0.3, size=(5, protocol.num_points)).astype(np.float32)
  change = report.change_per_grid_point(probs, protocol.pairs)
  starts = np.bincount(protocol.pairs[:, 0], minlength=protocol.num_points)
  assert np.all(np.isnan(change[starts == 0])) and not np.any(np.isnan(change[starts > 0]))
  weighted = np.nansum(change * starts) / starts.sum()
  assert weighted == pytest.approx(metrics.p_top1_change(probs, protocol.pairs)["mean"])


def _read_csv(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


@pytest.mark.slow
def test_csvs_per_protocol_per_sweep_and_per_grid(evaluated):
  workdir, _, eval_report = evaluated
  rows = _read_csv(_eval_file(workdir, "protocols.csv"))
  assert [r["protocol"] for r in rows] == list(eval_report["protocols"])
  by_size = _read_csv(_eval_file(workdir, "embed_by_size.csv"))
  assert [int(r["size"]) for r in by_size] == [28, 30]
  assert [int(r["num_pairs"]) for r in by_size] == [4 * 4, 2 * 2]  # diagonal moves
  assert [int(r["num_images"]) for r in by_size] == [NUM_TEST_IMAGES] * 2
  assert {r["protocol"]: int(r["num_images"]) for r in rows} == {
      name: CIRCULAR_IMAGES if name == "circular" else NUM_TEST_IMAGES
      for name in TINY_EVAL["protocols"]}
  sweep = eval_report["protocols"]["embed"]["by_group"]
  assert [float(r["mac"]) for r in by_size] == pytest.approx(sweep["mac"]["mean"])
  grid_rows = _read_csv(_eval_file(workdir, "circular_grid.csv"))
  assert len(grid_rows) == 9 and set(grid_rows[0]) == {"dy", "dx", "accuracy", "p_top1_change",
                                                       "num_images"}
  assert {int(r["num_images"]) for r in grid_rows} == {CIRCULAR_IMAGES}
  assert os.path.exists(_eval_file(workdir, "sampled_by_size.csv"))
  assert not os.path.exists(_eval_file(workdir, "sampled_grid.csv"))


@pytest.mark.slow
def test_markdown_summary_lists_every_protocol(evaluated):
  workdir, _, eval_report = evaluated
  with open(_eval_file(workdir, "summary.md")) as f:
    text = f.read()
  assert text == report.markdown_summary(eval_report)
  table = [line for line in text.splitlines() if line.startswith("| ")]
  assert len(table) == 1 + len(TINY_EVAL["protocols"])
  for name in TINY_EVAL["protocols"]:
    assert f"| {name} |" in text
  assert "max \\|logit change\\|" in table[0] and "| sampled (*) |" in text
  assert f"`embed`: {metrics.POOLING}" in text and "(*) sampled:" in text
  assert all(line.count("|") - line.count("\\|") == table[0].count("|")
             - table[0].count("\\|") for line in table)  # escaped bars keep the columns


def test_zero_is_written_up_to_float_rounding_only_when_the_logits_did_not_move():
  zero = {"mean": 0.0, "stderr": 0.0}
  assert report.format_invariance(zero, 3e-7, table=False) == (
      "0 up to float rounding (max |logit change| = 3.0e-07)")
  assert report.format_invariance(zero, 0.03) == "0.0000 ± 0.0000"
  assert report.format_invariance({"mean": 0.1, "stderr": 0.01}, 0.0) == "0.1000 ± 0.0100"


def _assert_valid_png(path):
  with Image.open(path) as image:
    image.verify()
  with Image.open(path) as image:
    assert image.format == "PNG"
    assert image.width >= 300 and image.height >= 200
    darkest, brightest = image.convert("L").getextrema()
    assert darkest < brightest  # not a blank canvas


@pytest.mark.slow
def test_pngs_exist_and_are_valid_images(evaluated):
  workdir, _, eval_report = evaluated
  expected = {"sensitivity_vs_size.png", "metrics_per_protocol.png",
              "crop_heatmap.png", "crop_jagged.png", "embed_heatmap.png", "embed_jagged.png",
              "circular_heatmap.png", "circular_jagged.png", "scale_jagged.png"}
  written = {os.path.basename(p) for p in eval_report["files"]["png"]}
  assert written == expected  # no heat map for embed_scale or sampled pairs
  for name in expected:
    _assert_valid_png(_eval_file(workdir, name))


@pytest.mark.slow
def test_compare_draws_two_runs_on_one_plot(evaluated, tmp_path):
  workdir, _, _ = evaluated
  other = tmp_path / "nostride"
  (other / "eval").mkdir(parents=True)
  with open(_eval_file(workdir, "eval.json")) as f:
    changed = json.load(f)
  changed["model"]["name"] = "alexnet_nostride"
  (other / "eval" / "eval.json").write_text(json.dumps(changed))
  shutil.copy(_eval_file(workdir, "per_image.npz"), other / "eval" / "per_image.npz")
  out = tmp_path / "compare"
  files = compare.compare_workdirs([workdir, str(other)], str(out), labels=["strided", "nostride"],
                                   replicates=200)
  assert {os.path.basename(p) for p in files["png"]} == {
      "sensitivity_vs_size_embed.png", "sensitivity_vs_size_sampled.png",
      "sensitivity_vs_size_scale.png", "metrics_per_protocol.png", "invariance_vs_accuracy.png"}
  for path in files["png"]:
    _assert_valid_png(path)
  text = (out / "compare.md").read_text()
  assert text.count("| strided |") == text.count("| nostride |") == len(TINY_EVAL["protocols"])
  # The same per-image values twice: every paired difference is 0, with a 0-wide interval.
  with open(out / "paired.json") as f:
    (pair,) = json.load(f)["pairs"]
  assert pair["n_images"] == NUM_TEST_IMAGES and set(pair["protocols"]) == set(
      TINY_EVAL["protocols"])
  for protocol in pair["protocols"].values():
    for entry in protocol["metrics"].values():
      assert entry["diff"] == entry["ci_low"] == entry["ci_high"] == 0.0
      assert not entry["distinguishable"]
  with pytest.raises(FileNotFoundError, match="python -m evaluate"):
    compare.compare_workdirs([workdir, str(tmp_path)], str(out))


@pytest.mark.slow
def test_the_shift_attack_and_both_fractional_variants_run_end_to_end(evaluated, tmp_path):
  """An attack entry sits beside the grid entries: metrics it has (accuracy at (0, 0),
  adversarial accuracy, stable prediction), what its worst case is over, its per-image
  values; summary.md says which fractional_shift variant each row is."""
  workdir, _, _ = evaluated
  config = dict(num_images=4, image_selection="first", num_jagged_images=0, protocols=dict(
      adversary=dict(type="shift_attack", grid_step=0.5, max_shift=1.0, grid_starts=1,
                     random_starts=1, steps=1),
      half_raw=dict(type="fractional_shift", step=0.5, max_shift=0.5),
      half_band_limited=dict(type="fractional_shift", step=0.5, max_shift=0.5,
                             band_limit=True)))
  eval_report = run.evaluate_workdir(workdir, config, out_dir=str(tmp_path), verbose=False)
  entry = eval_report["protocols"]["adversary"]
  assert entry["kind"] == "attack" and set(entry["metrics"]) == {
      "accuracy", "worst_case_accuracy", "stable_prediction"}
  assert entry["metrics"]["accuracy"]["mean"] == pytest.approx(
      eval_report["clean_accuracy"]["mean"])
  assert entry["metrics"]["worst_case_accuracy"]["mean"] <= (
      entry["adversarial"]["grid"]["worst_case_accuracy"]["mean"])
  assert entry["num_grid_points"] == 25 + 1 + 2 * 2
  saved = per_image.load(str(tmp_path))
  adversary = saved.protocols["adversary"]
  assert adversary.type == "shift_attack" and list(saved.image_indices) == [0, 1, 2, 3]
  assert {"worst_case_accuracy", "stable_prediction", "worst_dy", "worst_dx",
          "grid_worst_case_accuracy"} <= set(adversary.per_image.values)
  assert adversary.per_image.values["worst_case_accuracy"].mean() == pytest.approx(
      entry["metrics"]["worst_case_accuracy"]["mean"])
  text = (tmp_path / "summary.md").read_text()
  assert "| adversary | shift_attack (raw) | 4 | attack | 30 | 0 |" in text
  assert "| half_band_limited | fractional_shift (band-limited) | 4 | full |" in text
  assert "- `half_band_limited`: band_limit=True: band-limited" in text
  assert "- `adversary`: worst case over every 0.5-pixel shift of |dy|, |dx| <= 1.0" in text


@pytest.fixture
def no_data(monkeypatch):
  """Fails the test if the evaluation gets as far as loading data."""

  def refuse(*args, **kwargs):
    raise AssertionError("the test set was loaded before the error was found")

  monkeypatch.setattr(run, "load_cifar10", refuse)


@pytest.mark.slow
def test_errors_before_any_long_work(evaluated, tmp_path, no_data):
  workdir, _, _ = evaluated
  with pytest.raises(FileNotFoundError, match="config.json"):
    run.evaluate_workdir(str(tmp_path), TINY_EVAL)
  shutil.copy(os.path.join(workdir, "config.json"), tmp_path / "config.json")
  with pytest.raises(FileNotFoundError, match="[Cc]heckpoint"):
    run.evaluate_workdir(str(tmp_path), TINY_EVAL)

  def with_protocol(**entry):
    return dict(TINY_EVAL, protocols=dict(TINY_EVAL["protocols"], bad=entry))

  with pytest.raises(UnknownNameError, match="crop_shift.*embed_shift"):
    run.evaluate_workdir(workdir, with_protocol(type="shift_everything"))
  with pytest.raises(ValueError, match="protocols.bad.*sizes"):
    run.evaluate_workdir(workdir, with_protocol(type="embed_shift", sizes=(40,)))
  with pytest.raises(ValueError, match="memory bound"):
    run.evaluate_workdir(workdir, dict(TINY_EVAL, max_chunk_bytes=1000))
  with pytest.raises(ValueError, match="num_imags"):
    run.evaluate_workdir(workdir, dict(TINY_EVAL, num_imags=3))
  with pytest.raises(ValueError, match="protocols.bad.num_images must be an integer from 1 to "
                                       "config.eval.num_images = 8"):
    run.evaluate_workdir(workdir, dict(with_protocol(type="circular_shift", num_images=9),
                                       num_images=8))


@pytest.mark.slow
def test_cli_unknown_protocol_exits_nonzero_with_the_valid_names(evaluated):
  workdir, _, _ = evaluated
  result = subprocess.run(
      [sys.executable, "-m", "evaluate", "--workdir", workdir,
       "--config", os.path.join(REPO_ROOT, "evaluate", "config.py"),
       "--config.protocols.crop.type=nonsense"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert result.returncode == 1, result.stderr[-2000:]
  assert ("error: config.eval.protocols.crop: Unknown evaluation protocol 'nonsense'"
          in result.stderr)
  assert "circular_shift, crop_shift, embed_scale, embed_shift" in result.stderr
  assert not os.path.exists(os.path.join(workdir, "eval", "eval.json.tmp"))


def test_image_selection_first_random_and_all():
  assert list(images.select_test_images(10, 3, "first", 0)) == [0, 1, 2]
  drawn = images.select_test_images(100, 10, "random", 7)
  assert len(set(drawn)) == 10 and list(drawn) == sorted(drawn) and drawn.max() < 100
  assert list(drawn) == list(images.select_test_images(100, 10, "random", 7))
  assert list(drawn) != list(images.select_test_images(100, 10, "random", 8))
  assert list(images.select_test_images(5, 0, "random", 0)) == list(range(5))
  assert list(images.select_test_images(5, 50, "random", 0)) == list(range(5))


def test_a_protocol_subset_is_k_images_drawn_from_the_seed_nested_and_order_free():
  evaluated = images.select_test_images(10000, 1000, "random", 0)
  rows = images.protocol_image_rows(evaluated, 100, seed=0)
  assert len(rows) == len(set(rows)) == 100 and list(rows) == sorted(rows)
  assert list(rows) == list(images.protocol_image_rows(evaluated, 100, seed=0))
  chosen = set(evaluated[rows])
  assert len(chosen & set(evaluated[images.protocol_image_rows(evaluated, 100, seed=1)])) < 30
  # Nested as K grows; the same images whatever the order of the evaluated images; an image
  # chosen from the 1000 is chosen from any smaller evaluated set that holds it.
  assert chosen <= set(evaluated[images.protocol_image_rows(evaluated, 300, seed=0)])
  shuffled = np.random.default_rng(0).permutation(evaluated)
  assert set(shuffled[images.protocol_image_rows(shuffled, 100, seed=0)]) == chosen
  smaller = evaluated[::2]
  assert chosen & set(smaller) <= set(smaller[images.protocol_image_rows(smaller, 100, seed=0)])
  # Uniform over the evaluated images: about K/N of each half of them.
  assert 35 <= np.sum(rows < 500) <= 65
  assert list(images.protocol_image_rows(evaluated[:40], 100, seed=0)) == list(range(40))
  assert list(images.protocol_image_rows(evaluated[:40], None, seed=0)) == list(range(40))


@pytest.mark.parametrize("entry, row", [
    (dict(type="crop_shift", scale=1.25), ("dy", 4)),
    (dict(type="circular_shift"), ("dy", 0)),
    (dict(type="embed_shift", sizes=(24, 28)), ("size", 24)),
])
def test_jagged_path_is_one_row_in_order_of_dx(entry, row):
  protocol = protocols.build_protocol_from_config(entry)
  indices, x, label, symbol = jagged.jagged_path(protocol.grid, protocol.pairs, entry["type"])
  key, value = row
  assert np.all(protocol.grid[key][indices] == value)
  assert len(np.unique(protocol.grid["dy"][indices])) == 1
  assert np.all(np.diff(x) == 1) and len(x) >= 5 and symbol == "dx" and "dx" in label


def test_jagged_path_of_embed_scale_follows_the_size():
  protocol = protocols.build_protocol("embed_scale", sizes=[20, 22, 24])
  indices, x, _, symbol = jagged.jagged_path(protocol.grid, protocol.pairs, "embed_scale")
  assert list(x) == [20, 22, 24] and symbol == "s"


def test_eval_config_defaults_overrides_and_typos():
  default = default_eval_config()
  assert get_config() == default
  for entry in default.protocols.values():  # every default protocol builds
    protocols.build_protocol_from_config(entry.to_dict())
  config = complete_eval_config(dict(num_images=5, protocols=dict(c=dict(type="circular_shift"))))
  assert config.num_images == 5 and list(config.protocols) == ["c"]
  assert config.seed == default.seed
  with pytest.raises(ValueError, match="Unknown config.eval field"):
    complete_eval_config(dict(num_image=5))
  with pytest.raises(ValueError, match="'type'"):
    complete_eval_config(dict(protocols=dict(c=dict(max_shift=3))))
  with pytest.raises(ValueError, match="image_selection"):
    complete_eval_config(dict(image_selection="best"))
  # A protocol's num_images: an evaluation option, taken out before the protocol is built.
  subset = dict(num_images=50, protocols=dict(c=dict(type="circular_shift", num_images=20)))
  assert eval_config.check_eval_config(subset).protocols.c.num_images == 20
  for bad in (0, -3, 51, 2.5, True, "20"):
    with pytest.raises(ValueError, match="protocols.c.num_images must be an integer"):
      complete_eval_config(dict(subset, protocols=dict(c=dict(type="circular_shift",
                                                               num_images=bad))))
  whole_test_set = complete_eval_config(dict(subset, num_images=0))  # no bound known yet
  assert whole_test_set.protocols.c.num_images == 20
  with pytest.raises(UnknownNameError, match="circular_shift"):
    eval_config.check_eval_config(dict(protocols=dict(c=dict(type="circle"))))
  assert eval_config.check_eval_config(None) == default
  run_config = tiny_config()
  run_config.eval = complete_eval_config(dict(num_images=7))
  assert eval_config.resolve_eval_config(run_config).num_images == 7
  assert eval_config.resolve_eval_config(run_config, dict(seed=3)).num_images == default.num_images


def test_default_protocols_fit_the_default_memory_bound_for_alexnet():
  import importlib  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import models  # pylint: disable=g-import-not-at-top
  from evaluate import grid  # pylint: disable=g-import-not-at-top
  from runtime.accuracy import make_predict_fn  # pylint: disable=g-import-not-at-top
  model = models.build_model(**importlib.import_module("configs.alexnet").get_config().model)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)),
                                             train=False))
  variables = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
  default = default_eval_config()
  for entry in default.protocols.values():
    grid.check_fits(protocols.build_protocol_from_config(entry.to_dict()),
                    make_predict_fn(model), variables, default.max_chunk_bytes)


def test_compare_takes_repeated_workdirs_whose_names_hold_commas():
  assert compare.joined_flag_values(["a", "b"], ["runs/s/aps,seed=0"]) == [
      "a", "b", "runs/s/aps,seed=0"]
  assert compare.joined_flag_values(None, ["x,seed=0"]) == ["x,seed=0"]
  assert compare.joined_flag_values(None, None) is None


def test_evaluation_computes_every_product_at_the_highest_precision():
  """TPUs (and TF32 GPUs) multiply with fewer mantissa bits by default; under the evaluation's
  precision every convolution and matmul of the model asks for HIGHEST (checked in the
  lowered program, so on any platform)."""
  import jax  # pylint: disable=g-import-not-at-top
  import models  # pylint: disable=g-import-not-at-top
  from runtime import numerics  # pylint: disable=g-import-not-at-top
  from runtime.accuracy import make_predict_fn  # pylint: disable=g-import-not-at-top
  model = models.build_model(name="alexnet", width=4, num_classes=10)
  images = jax.ShapeDtypeStruct((2, 32, 32, 3), np.uint8)
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), np.zeros((1, 32, 32, 3),
                                                                            np.float32)))

  def precisions() -> list[str]:
    """The operand precisions of every convolution and dot_general of the lowered predict."""
    text = jax.jit(make_predict_fn(model)).lower(variables, images).as_text()
    return [word for line in text.splitlines()
            if "stablehlo.convolution" in line or "stablehlo.dot_general" in line
            for group in re.findall(r"precision(?:_config)? = \[([^\]]*)\]", line)
            for word in re.findall(r"DEFAULT|HIGHEST|HIGH", group)]

  assert set(precisions()) == {"DEFAULT"}
  at_eval = numerics.at_evaluation_precision(precisions)()
  assert len(at_eval) >= 4 and set(at_eval) == {"HIGHEST"}, at_eval
