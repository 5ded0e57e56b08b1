"""Sweeps: expansion and naming on toy sweep configs, and the real sweep.py on tiny runs."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from models import afc_options
from tests.conftest import REPO_ROOT, tiny_config, write_tiny_sweep
from sweeps import default_sweep_config, expand_sweep
from sweeps.spec import apply_settings, format_value


def _sweep(**fields):
  sweep = default_sweep_config(tiny_config())
  for key, value in fields.items():
    sweep[key] = value
  return sweep


# ---- Expansion and naming (no training).

def test_members_are_families_times_product_times_seeds_in_order():
  members = expand_sweep(_sweep(
      members=[{"label": "flip", "augment.policies": "flip"},
               {"label": "crop", "augment.policies": "crop"}],
      product=[("train.learning_rate", (0.1, 0.01)), ("model.width", (8, 16))],
      seeds=(0, 1)))
  assert len(members) == 2 * 4 * 2
  assert [m.index for m in members] == list(range(16))
  assert members[0].name == "flip,learning_rate=0.1,width=8,seed=0"
  assert members[1].name == "flip,learning_rate=0.1,width=8,seed=1"
  assert members[2].name == "flip,learning_rate=0.1,width=16,seed=0"
  assert members[-1].name == "crop,learning_rate=0.01,width=16,seed=1"
  last = members[-1].config
  assert (last.augment.policies, last.train.learning_rate, last.model.width, last.seed) == (
      "crop", 0.01, 16, 1)
  assert members[-1].group == "crop,learning_rate=0.01,width=16"
  assert members[-1].settings == {"augment.policies": "crop", "train.learning_rate": 0.01,
                                  "model.width": 16}


def test_default_sweep_is_the_base_config_once():
  members = expand_sweep(_sweep())
  assert [m.name for m in members] == ["base,seed=0"]
  base = tiny_config()
  base.seed = 0
  assert members[0].config.to_dict() == base.to_dict()


def test_names_without_labels_show_settings_and_escape_values():
  members = expand_sweep(_sweep(members=[{"augment.policies": "crop,flip"},
                                         {"augment.policies": ""}], seeds=(3,)))
  assert [m.name for m in members] == ["policies=crop+flip,seed=3", "policies=none,seed=3"]
  assert members[0].config.augment.policies == "crop,flip"  # only the name is escaped


def test_settings_sharing_a_last_component_use_full_paths():
  members = expand_sweep(_sweep(members=[{"augment.crop.fill": "mean",
                                          "augment.downsize_embed.fill": "black"}]))
  assert members[0].name == "augment.crop.fill=mean,augment.downsize_embed.fill=black,seed=0"


def test_a_members_name_does_not_depend_on_the_other_members():
  alone = expand_sweep(_sweep(members=[{"model.width": 8}]))[0].name
  together = expand_sweep(_sweep(members=[{"model.width": 8}, {"model.width": 16}]))[0].name
  assert alone == together == "width=8,seed=0"


@pytest.mark.parametrize("value, text", [("", "none"), ("a/b c", "a+b+c"), (True, "true"),
                                         ((16, 20), "16+20"), (0.5, "0.5")])
def test_format_value(value, text):
  assert format_value(value) == text


def test_unknown_setting_path_is_an_error_listing_the_fields():
  with pytest.raises(ValueError, match=r"'train' has no 'learning_rat'.*learning_rate"):
    expand_sweep(_sweep(members=[{"train.learning_rat": 0.1}]))


def test_wrong_value_type_is_an_error():
  with pytest.raises(ValueError, match="cannot set 'model.width'"):
    apply_settings(tiny_config(), {"model.width": "wide"})


@pytest.mark.parametrize("fields, message", [
    (dict(members=[{"label": "a"}, {"label": "a"}]), "share the name"),
    (dict(members=[{"seed": 3}]), "sweep.seeds"),
    (dict(seeds=(0, 0)), "repeats a seed"),
    (dict(seeds=()), "non-empty"),
    (dict(product=[("model.width", ())]), "has no values"),
    (dict(product=["model.width"]), r"\(dotted.path, values\) pair"),
    (dict(members=[{"model.width": 8}], product=[("model.width", (8, 16))]), "also varies"),
])
def test_malformed_sweeps_are_errors(fields, message):
  with pytest.raises(ValueError, match=message):
    expand_sweep(_sweep(**fields))


def test_fingerprint_follows_the_config():
  a, b = expand_sweep(_sweep(product=[("model.width", (8, 16))]))
  again = expand_sweep(_sweep(product=[("model.width", (8, 16))]))[0]
  assert a.fingerprint() == again.fingerprint() != b.fingerprint()


def test_unknown_model_in_a_member_fails_before_anything_runs():
  from sweeps.runner import validate_members  # pylint: disable=g-import-not-at-top
  members = expand_sweep(_sweep(members=[{"label": "ok"}, {"label": "typo",
                                                           "model.name": "alexnett"}]))
  with pytest.raises(ValueError, match=r"member 1 \(typo,seed=0\).*alexnet_nostride"):
    validate_members(members, evaluate=True)


_SWEEP_DIR = os.path.join(REPO_ROOT, "configs", "sweeps")
SHIPPED_SWEEPS = sorted(f[:-3] for f in os.listdir(_SWEEP_DIR)
                        if f.endswith(".py") and f[0] != "_")


def test_the_paper_sweeps_are_shipped():
  assert {"augment_range", "beyond_blurpool", "blurpool_filters",
          "stride_vs_nostride"} <= set(SHIPPED_SWEEPS)


@pytest.mark.parametrize("name", SHIPPED_SWEEPS)
def test_every_shipped_sweep_config_expands_and_validates(name):
  import importlib  # pylint: disable=g-import-not-at-top
  from sweeps.runner import validate_members  # pylint: disable=g-import-not-at-top
  module = importlib.import_module(f"configs.sweeps.{name}")
  for arg in ("", "cpu"):
    members = expand_sweep(module.get_config(arg))
    validate_members(members, evaluate=True)
    assert len({m.group for m in members}) >= 2, name


STUDY_SWEEPS = ("stride_vs_nostride", "blurpool_filters", "beyond_blurpool", "fig10_augmentation",
                "transformers")


@pytest.mark.parametrize("name", STUDY_SWEEPS)
def test_the_multi_seed_study_expands_every_member_with_every_seed(name):
  """The ':cpu_seeds' study of RESULTS.md: every member with each of the study's seeds, at the
  study scale, its per-protocol image counts within the evaluation's (validated)."""
  import importlib  # pylint: disable=g-import-not-at-top
  from configs import scales  # pylint: disable=g-import-not-at-top
  from sweeps.runner import validate_members  # pylint: disable=g-import-not-at-top
  module = importlib.import_module(f"configs.sweeps.{name}")
  members = expand_sweep(module.get_config("cpu_seeds"))
  validate_members(members, evaluate=True)
  groups = {m.group for m in members}
  assert len(members) == len(groups) * len(scales.STUDY_SEEDS) and len(groups) >= 3
  for member in members:
    config = member.config
    assert config.data.train_subset == scales.STUDY_TRAIN_SUBSET
    assert config.train.num_epochs == scales.STUDY_EPOCHS
    assert config.eval.num_images == scales.STUDY_EVAL_IMAGES
    for protocol_name, entry in config.eval.protocols.items():
      assert entry.get("num_images", 0) <= config.eval.num_images
      if entry.get("sample_pairs", 0):  # sampled protocols draw the study's number of pairs
        assert entry.sample_pairs == scales.STUDY_SAMPLE_PAIRS, protocol_name
  circular = members[0].config.eval.protocols.get("circular")
  if circular is not None:  # a full grid of rolls runs on fewer images, sampled rolls on all
    assert ("num_images" in circular) == (not circular.get("sample_pairs", 0))
  with pytest.raises(ValueError, match="cpu_seeds"):
    module.get_config("gpu")


def test_beyond_blurpool_protocols_and_augmentation_validate():
  """configs/sweeps/beyond_blurpool.py: its protocols, members and their settings."""
  import augment  # pylint: disable=g-import-not-at-top
  from configs.sweeps import beyond_blurpool  # pylint: disable=g-import-not-at-top
  from evaluate.config import check_eval_config  # pylint: disable=g-import-not-at-top
  sweep = beyond_blurpool.get_config("cpu")
  assert {"circular", "crop", "embed_black", "embed_scale", "fractional_half",
          "fractional_quarter", "fractional_half_band_limited",
          "fractional_quarter_band_limited", "shift_attack"} == set(
              sweep.base.eval.protocols.keys())
  assert sweep.base.eval.protocols.fractional_half_band_limited.band_limit
  assert "sample_pairs" not in sweep.base.eval.protocols.fractional_half  # exhaustive
  assert sweep.base.model.padding == "circular" and sweep.base.model.name == "resnet20"
  check_eval_config(sweep.base.eval)
  labels = [member["label"] for member in sweep.members]
  assert labels == ["stride", "blur3", "blur5", "aps", "aps_blur3", "lps", "upsampled_relu",
                    "afc", "stride_worst_of_10", "stride_afc_blocks", "afc_poly_stride"]
  for member in sweep.members:
    other = {k: v for k, v in member.items() if not k.startswith("model.") and k != "label"}
    augment.build_augment(apply_settings(sweep.base, other).augment)
  worst = apply_settings(sweep.base, {k: v for k, v in sweep.members[8].items()
                                      if k.startswith("augment.")})
  assert (worst.augment.worst_of_k.k, worst.augment.worst_of_k.policy) == (10, "crop")
  members = expand_sweep(sweep)
  assert [m.name for m in members] == [f"{label},seed=0" for label in labels]
  assert members[6].config.model.nonlinearity == "alias_free_relu"
  assert members[6].config.model.downsample == "ideal"
  # 'afc' is the alias-free convnet exactly as models.afc_options builds it for resnet20.
  afc = members[7].config.model
  assert {option: afc[option] for option in afc_options("resnet20")} == afc_options("resnet20")
  for member in members[:7] + members[8:9]:  # the others keep He et al.'s residual blocks
    assert member.config.model.activation_after_sum and not member.config.model.zero_init_residual
  # The afc ablation: stride -> stride_afc_blocks -> afc_poly_stride -> afc, one change a step.
  chain = [members[0], members[9], members[10], members[7]]
  options = ("downsample", "nonlinearity", "activation_after_sum", "zero_init_residual")
  changed = [{o for o in options if a.config.model[o] != b.config.model[o]}
             for a, b in zip(chain, chain[1:])]
  assert changed == [{"activation_after_sum", "zero_init_residual"}, {"nonlinearity"},
                     {"downsample"}]


# ---- Collection of finished members (fake evaluations, no training).


def _fake_finished_sweep(workdir, rng, *, planted=0.15, old_member=None):
  """Three members x three seeds marked done, each with a fake evaluation on 150 images:
  'blur' flips `planted` more often than 'stride', 'aps' as often. old_member: the name of
  a member whose evaluation has no per-image file (evaluated before it existed)."""
  from tests.synthetic_eval import write_evaluation  # pylint: disable=g-import-not-at-top
  from sweeps import runner  # pylint: disable=g-import-not-at-top
  members = expand_sweep(_sweep(members=[
      {"label": "stride"}, {"label": "blur", "train.learning_rate": 0.02},
      {"label": "aps", "train.learning_rate": 0.03}], seeds=(0, 1, 2)))
  difficulty = rng.uniform(0.05, 0.6, 150)
  for member in members:
    directory = os.path.join(workdir, member.name)
    shift = planted if member.group == "blur" else 0.0
    flips = (rng.random((150, 2)) < (difficulty + shift)[:, None]).astype(float)
    write_evaluation(directory, {"p_top1_change": flips, "accuracy": 1 - flips})
    runner._write_status(directory, member, "done")  # pylint: disable=protected-access
    with open(os.path.join(directory, "summary.json"), "w") as f:
      json.dump({"final_test_accuracy": 0.5 + 0.01 * member.seed}, f)
    if member.name == old_member:
      os.remove(os.path.join(directory, "eval", "per_image.npz"))
  return members


@pytest.mark.slow
def test_collect_gives_intervals_per_member_and_differences_against_a_baseline(tmp_path):
  from evaluate.stats import paired  # pylint: disable=g-import-not-at-top
  from sweeps import collect  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path)
  members = _fake_finished_sweep(workdir, np.random.default_rng(0))
  collected = collect.collect_sweep(workdir, members, baseline="stride", replicates=300)
  assert len(_rows(workdir)) == 9  # summary.csv: one row per member run
  with open(collected["groups_json"]) as f:
    groups = json.load(f)["groups"]
  assert list(groups) == ["stride", "blur", "aps"]
  flips = groups["blur"]["protocols"]["embed"]["metrics"]["p_top1_change"]
  assert groups["blur"]["n_seeds"] == 3 and groups["blur"]["n_images"] == 150
  assert flips["ci_low"] < flips["mean"] < flips["ci_high"]
  per_size = groups["blur"]["protocols"]["embed"]["by_group"]  # the curves' intervals
  assert per_size["groups"] == [24, 28]
  assert all(e["ci_low"] < e["mean"] < e["ci_high"] for e in per_size["p_top1_change"])
  assert {os.path.basename(p) for p in collected["png"]} == {
      "sensitivity_vs_size_embed.png", "metrics_per_protocol.png", "invariance_vs_accuracy.png",
      "accuracy.png", "paired_p_top1_change.png", "paired_accuracy.png", "paired_mac.png",
      "paired_by_size_embed.png"}
  with open(os.path.join(workdir, "paired.json")) as f:
    pairs = json.load(f)["pairs"]
  assert [(p["a"], p["b"]) for p in pairs] == [("stride", "blur"), ("stride", "aps")]
  assert pairs[0]["n_seeds_a"] == pairs[0]["n_seeds_b"] == 3
  blur, aps = (p["protocols"]["embed"]["metrics"]["p_top1_change"] for p in pairs)
  assert blur["distinguishable"] and blur["ci_low"] < 0.15 < blur["ci_high"]
  assert not aps["distinguishable"]  # nothing planted
  with open(collected["markdown"]) as f:
    text = f.read()
  assert "## `embed` (embed_shift)" in text and "## Differences against `stride`" in text
  assert f"{flips['mean']:.4f} [{flips['ci_low']:.4f}, {flips['ci_high']:.4f}]" in text
  assert f"**{blur['diff']:+.4f} [" in text  # bold: distinguishable
  assert os.path.exists(os.path.join(workdir, "paired.md"))
  # One seed of 'aps' evaluated under other protocol options: its seeds cannot be pooled,
  # and a comparison against the baseline is refused (sweep.py exits 2).
  from tests.synthetic_eval import write_evaluation  # pylint: disable=g-import-not-at-top
  write_evaluation(os.path.join(workdir, "aps,seed=1"), {"p_top1_change": np.zeros((150, 2))},
                   options={"sizes": [24, 28], "fill": "mean"})
  with pytest.raises(paired.IncomparableRunsError, match="'aps'.*fill"):
    collect.collect_sweep(workdir, members, baseline="stride", replicates=50)


@pytest.mark.slow
def test_collect_pairs_seeds_by_number_and_refuses_members_with_other_seeds(tmp_path):
  """sweep.py --collect --pair_seeds: each member's seeds paired with the baseline's by
  config.seed (paired.json says so); a member whose finished seeds are not the baseline's is
  refused, and so is --pair_seeds without a baseline."""
  from evaluate.stats import paired  # pylint: disable=g-import-not-at-top
  from sweeps import collect, runner  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path)
  members = _fake_finished_sweep(workdir, np.random.default_rng(2))
  collected = collect.collect_sweep(workdir, members, baseline="stride", replicates=100,
                                    pair_seeds=True)
  with open(collected["paired"]["json"]) as f:
    saved = json.load(f)
  assert saved["seed_pairing"] == "joint" and [p["seeds"] for p in saved["pairs"]] == [
      [0, 1, 2], [0, 1, 2]]
  with pytest.raises(ValueError, match="give --baseline"):
    collect.collect_sweep(workdir, members, replicates=50, pair_seeds=True)
  failed = next(m for m in members if m.name == "blur,seed=2")
  # pylint: disable-next=protected-access
  runner._write_status(os.path.join(workdir, failed.name), failed, "failed")
  with pytest.raises(paired.IncomparableRunsError, match=r"seeds \[0, 1, 2\] and run 'blur' has "
                     r"seeds \[0, 1\]"):
    collect.collect_sweep(workdir, members, baseline="stride", replicates=50, pair_seeds=True)


@pytest.mark.slow
def test_members_without_per_image_files_fall_back_to_the_spread_over_seeds(tmp_path):
  from sweeps import collect  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path)
  members = _fake_finished_sweep(workdir, np.random.default_rng(1), old_member="aps,seed=2")
  collected = collect.collect_sweep(workdir, members, replicates=100)
  with open(collected["markdown"]) as f:
    text = f.read()
  assert "| aps † |" in text and "no per-image results in aps,seed=2" in text
  assert "| stride |" in text and collected["paired"] is None
  with pytest.raises(ValueError, match="no per-image results in aps,seed=2"):
    collect.collect_sweep(workdir, members, baseline="aps", replicates=100)


def test_sweep_summary_shows_an_attack_protocol_by_its_own_metrics(tmp_path):
  """An attack entry (evaluate/attack.py) has no pair metrics or consistency: its table shows
  n/a there and its adversarial accuracy, stable prediction and accuracy; summary.csv leaves
  the pair columns empty."""
  from evaluate import attack, protocols  # pylint: disable=g-import-not-at-top
  from sweeps import collect  # pylint: disable=g-import-not-at-top
  result = attack.AttackResult(
      labels=np.zeros(2, np.int32), options=protocols.build_protocol("shift_attack").options,
      reference_correct=np.array([True, True]), grid_correct=np.array([True, False]),
      grid_stable=np.array([True, False]), correct=np.array([True, False]),
      stable=np.array([True, False]), worst_margin=np.ones(2, np.float32),
      worst_shift=np.zeros((2, 2), np.float32), logit_spread=np.ones(2, np.float32),
      num_visited=1091)
  entry = attack.attack_entry(result, protocol_type="shift_attack", seconds=1.0)
  report = {"clean_accuracy": {"mean": 1.0, "stderr": 0.0}, "num_images": 2,
            "protocols": {"adversary": entry}}
  member = expand_sweep(_sweep())[0]
  results = [collect.MemberResult(member=member, state=collect.DONE, error=None,
                                  summary={"final_test_accuracy": 0.5}, report=report)]
  text = collect.markdown_summary(results, [], "t")
  assert "## `adversary` (shift_attack)" in text
  row = [line for line in text.splitlines() if line.startswith("| base ")][-1]  # † no interval
  assert row.startswith("| base † | 1.0000 | 0.5000 | n/a | n/a | n/a | 0.5000 | 1.00e+00 |")
  with open(collect.write_summary_csv(str(tmp_path / "s.csv"), results)) as f:
    rows = list(csv.DictReader(f))
  assert rows[0]["adversary/worst_case_accuracy"] == "0.5"
  assert rows[0]["adversary/p_top1_change"] == ""


# ---- The real sweep.py on tiny synthetic runs.

def _sweep_py(config, workdir, *flags):
  return subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "sweep.py"), f"--config={config}",
       f"--workdir={workdir}", *flags],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})


def _rows(workdir):
  with open(os.path.join(workdir, "summary.csv")) as f:
    return list(csv.DictReader(f))


def _status(workdir, name):
  with open(os.path.join(workdir, name, "sweep_member.json")) as f:
    return json.load(f)


@pytest.mark.slow
def test_sweep_index_then_all_then_collect_and_a_failing_member_is_reported(tmp_path):
  """One sweep of two tiny members and one that fails (its training subset exceeds the data):
  --list, --index, the rest (the failure is reported, the others complete), --collect."""
  config = write_tiny_sweep(tmp_path / "two.py", [
      {"label": "a"}, {"label": "b", "train.learning_rate": 0.02},
      {"label": "bad", "data.train_subset": 10**6}], protocol_images=6)
  workdir = str(tmp_path / "sweep")

  listed = _sweep_py(config, workdir, "--list")
  assert listed.returncode == 0, listed.stderr
  assert listed.stdout.split() == ["0", "not", "started", "a,seed=0",
                                   "1", "not", "started", "b,seed=0",
                                   "2", "not", "started", "bad,seed=0"]

  one = _sweep_py(config, workdir, "--index=1")
  assert one.returncode == 0, one.stderr
  assert _status(workdir, "b,seed=0")["state"] == "done"
  assert not os.path.exists(os.path.join(workdir, "a,seed=0"))
  assert not os.path.exists(os.path.join(workdir, "summary.csv"))  # --index never collects
  b_finished = os.path.getmtime(os.path.join(workdir, "b,seed=0", "summary.json"))

  everything = _sweep_py(config, workdir)
  assert everything.returncode == 1, everything.stderr
  assert "b,seed=0: already done, skipped" in everything.stdout
  assert os.path.getmtime(os.path.join(workdir, "b,seed=0", "summary.json")) == b_finished
  # The failing member is reported (exit 1, its error) and the others completed.
  assert "1 of 3 member(s) failed" in everything.stderr
  assert "2 bad,seed=0: DataError" in everything.stderr and "exceeds" in everything.stderr
  bad = _status(workdir, "bad,seed=0")
  assert bad["state"] == "failed" and "Traceback" in bad["traceback"]
  assert _status(workdir, "a,seed=0")["state"] == "done"
  rows = _rows(workdir)
  assert [(r["name"], r["state"]) for r in rows] == [
      ("a,seed=0", "done"), ("b,seed=0", "done"), ("bad,seed=0", "failed")]
  for row in rows[:2]:
    assert 0.0 <= float(row["final_test_accuracy"]) <= 1.0
    assert 0.0 <= float(row["embed_black/p_top1_change"]) <= 1.0
  assert rows[1]["train.learning_rate"] == "0.02"
  with open(os.path.join(workdir, "summary.md")) as f:
    assert "## Failed members" in f.read()
  for picture in ("sensitivity_vs_size_embed_black.png", "accuracy.png"):
    assert os.path.getsize(os.path.join(workdir, picture)) > 0
  with open(os.path.join(workdir, "sweep.json")) as f:
    assert [m["name"] for m in json.load(f)["members"]] == ["a,seed=0", "b,seed=0",
                                                            "bad,seed=0"]

  os.remove(os.path.join(workdir, "summary.csv"))
  unknown = _sweep_py(config, workdir, "--collect", "--baseline=c")
  assert unknown.returncode == 2 and "members (without their seeds): a, b, bad" in unknown.stderr
  collected = _sweep_py(config, workdir, "--collect", "--baseline=a", "--bootstrap_samples=200")
  assert collected.returncode == 0, collected.stderr
  assert "starting" not in collected.stdout and "| a |" in collected.stdout
  assert len(_rows(workdir)) == 3
  # The real evaluations' per-image files: one seed each, b against a on the same images.
  with open(os.path.join(workdir, "paired.json")) as f:
    (pair,) = json.load(f)["pairs"]
  assert (pair["a"], pair["b"], pair["n_seeds_a"]) == ("a", "b", 1)
  entry = pair["protocols"]["embed_black"]["metrics"]["p_top1_change"]
  assert entry["ci_low"] <= entry["diff"] <= entry["ci_high"]
  # The protocol ran on 6 of the 8 images (its num_images), the same 6 in both runs: paired
  # on those; the untransformed accuracy on all 8.
  assert pair["n_images"] == 8 and pair["protocols"]["embed_black"]["n_images"] == 6
  assert pair["protocols"]["embed_black"]["images_left_out"] == 0
  with open(os.path.join(workdir, "summary.md")) as f:
    assert "## `embed_black` (embed_shift, sampled, on 6 of each evaluation's images" in f.read()
  for picture in ("paired_p_top1_change.png", "metrics_per_protocol.png"):
    assert os.path.getsize(os.path.join(workdir, picture)) > 0
  assert "## Differences against `a`" in collected.stdout


@pytest.mark.slow
def test_bad_sweep_config_exits_2_before_running(tmp_path):
  config = write_tiny_sweep(tmp_path / "typo.py", [{"train.learnig_rate": 0.1}])
  result = _sweep_py(config, str(tmp_path / "sweep"))
  assert result.returncode == 2
  assert "'train' has no 'learnig_rate'" in result.stderr
  assert not os.path.exists(tmp_path / "sweep")


@pytest.mark.slow
def test_interrupted_member_resumes_from_its_checkpoint(tmp_path, monkeypatch):
  from runtime import checkpointing  # pylint: disable=g-import-not-at-top
  from sweeps import runner  # pylint: disable=g-import-not-at-top

  class Preempted(BaseException):
    """Like a kill: not an Exception, so the runner does not record a failure."""

  member = expand_sweep(_sweep(members=[{"label": "a"}]))[0]
  workdir = str(tmp_path)
  real_save = checkpointing.CheckpointWriter.save

  def save_then_die(writer, step, state, config):
    if step == 8:
      writer.wait()
      raise Preempted()
    real_save(writer, step, state, config)

  monkeypatch.setattr(checkpointing.CheckpointWriter, "save", save_then_die)
  with pytest.raises(Preempted):
    runner.run_member(member, workdir, evaluate=False)
  assert _status(workdir, member.name)["state"] == "running"
  monkeypatch.setattr(checkpointing.CheckpointWriter, "save", real_save)

  outcome = runner.run_member(member, workdir, evaluate=False)
  assert outcome.state == "done"
  with open(os.path.join(workdir, member.name, "summary.json")) as f:
    summary = json.load(f)
  assert summary["resumed_from_step"] == 4 and summary["steps"] == 12
  assert runner.run_member(member, workdir, evaluate=False).state == "skipped"
