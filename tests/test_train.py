"""The real training loop, run for a few steps on synthetic data."""
import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from common import tensorboard_events
from pipeline.train_then_evaluate import train_and_evaluate
from runtime import resume_config
from runtime.run_config import load_run_config
from tests.conftest import REPO_ROOT
from tests.event_reader import read_scalars
from training.state import TrainState
from training.steps import make_update_fn

@pytest.mark.slow
def test_run_writes_its_files_and_a_rerun_of_the_finished_run_trains_no_further(tmp_path, tiny):
  """A 12-step run writes config.json, metrics.jsonl, checkpoints 4, 8, 12 and summary.json;
  running it again resumes at 12, trains nothing and keeps the first run's results and timing."""
  summary = train_and_evaluate(tiny, str(tmp_path))
  assert summary["steps"] == 12
  assert 0.0 <= summary["final_test_accuracy"] <= 1.0
  assert summary["num_params"] > 0
  saved = json.loads((tmp_path / "config.json").read_text())
  assert saved["model"]["name"] == "alexnet"
  records = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in records if "train_loss" in r] == [4, 8, 12]
  for key in ("epoch", "train_loss", "train_accuracy", "learning_rate", "images_per_sec"):
    assert key in records[0]
  assert "test_accuracy" in records[-1]
  assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 12
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["12", "4", "8"]
  second = train_and_evaluate(tiny, str(tmp_path))
  assert second["resumed_from_step"] == 12 and second["steps"] == 12
  assert second["final_test_accuracy"] == summary["final_test_accuracy"]
  # ... and keeps the timing of the run that trained it, not of the no-op re-run.
  assert second["wall_time_sec"] == summary["wall_time_sec"]
  assert second["train_images_per_sec"] == summary["train_images_per_sec"]


@pytest.mark.slow
def test_loss_falls_on_a_learnable_problem(tmp_path, tiny):
  tiny.train.num_steps = 64
  tiny.train.log_every_steps = 8
  tiny.augment.policies = ""
  summary = train_and_evaluate(tiny, str(tmp_path))
  losses = [json.loads(l)["train_loss"] for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert losses[-1] < 0.5 * losses[0], losses
  assert summary["final_test_accuracy"] > 0.5  # chance is 0.1


@pytest.mark.parametrize("command", [
    # The config flag has no default: the override fails while flags are parsed.
    ["train.py", "--config", "configs/quickstart.py", "--config.model.widht=8"],
    # evaluate's config flag has a default: the override fails when the flag is defined.
    ["-m", "evaluate", "--config.protocols.circular.num_images=100"],
], ids=["train.py", "evaluate"])
@pytest.mark.slow
def test_override_of_a_missing_config_field_is_one_line_and_exit_2(tmp_path, command):
  result = subprocess.run(
      [sys.executable, *command, "--workdir", str(tmp_path / "run")],
      capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
  assert result.returncode == 2, result.stderr
  assert "Traceback" not in result.stderr
  missing = command[-1].split("=")[0].lstrip("-")
  assert f"error: --{missing}: the config has no field" in result.stderr
  assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_invariance_eval_runs_after_training_when_asked(tmp_path, tiny):
  import ml_collections  # pylint: disable=g-import-not-at-top
  tiny.train.num_steps = 4
  tiny.eval.run_after_training = True
  tiny.eval.num_images = 4
  tiny.eval.protocols = ml_collections.ConfigDict(
      {"circular": dict(type="circular_shift", max_shift=1)})
  train_and_evaluate(tiny, str(tmp_path))
  report = json.loads((tmp_path / "eval" / "eval.json").read_text())
  assert report["checkpoint_step"] == 4 and report["num_images"] == 4
  assert list(report["protocols"]) == ["circular"]
  events = read_scalars(str(tmp_path / "eval"), tensorboard_events.EVAL_SUFFIX)  # TensorBoard
  assert events["circular/p_top1_change"] == [
      (4, pytest.approx(report["protocols"]["circular"]["metrics"]["p_top1_change"]["mean"]))]


def test_bad_eval_protocol_fails_before_training(tmp_path, tiny):
  from common.registry import UnknownNameError  # pylint: disable=g-import-not-at-top
  tiny.eval.run_after_training = True
  tiny.eval.protocols.crop.type = "crop_shfit"
  with pytest.raises(UnknownNameError, match="crop_shift"):
    train_and_evaluate(tiny, str(tmp_path))
  assert not (tmp_path / "checkpoints").exists()


def _saved_config_without(tmp_path, config, option):
  """Writes `config` as a run's config.json with `option` removed from its model section."""
  saved = json.loads(config.to_json())
  del saved["model"][option]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  return saved


def test_run_saved_before_an_option_existed_resumes_and_keeps_its_behaviour(tmp_path, tiny):
  tiny.model.downsample = "blurpool"
  # Saved before blur_padding existed: its blur was padded like the convolutions (zeros).
  saved = _saved_config_without(tmp_path, tiny, "blur_padding")
  tiny.model.blur_padding = "zeros"
  resume_config.check_resume(saved, tiny)  # the same model: accepted
  tiny.model.blur_padding = "reflect"
  with pytest.raises(resume_config.ConfigMismatchError, match="blur_padding"):
    resume_config.check_resume(saved, tiny)
  assert load_run_config(str(tmp_path)).model.blur_padding == "zeros"


class _InfiniteGradientProbe(nn.Module):
  """Finite loss, infinite gradient in one scalar parameter only: d sqrt(s) / ds at s = 0."""

  @nn.compact
  def __call__(self, x, train=False):
    w = self.param("w", nn.initializers.ones, (3,))
    s = self.param("s", nn.initializers.zeros, ())
    return x * w + jnp.sqrt(s)


def test_a_non_finite_gradient_in_one_small_leaf_skips_the_update():
  """The finite check covers every gradient leaf (it runs as one reduction over all)."""
  model = _InfiniteGradientProbe()
  variables = model.init(jax.random.PRNGKey(0), jnp.zeros((2, 3)))
  state = TrainState.create(variables, optax.sgd(0.1))
  update = jax.jit(make_update_fn(model, optax.sgd(0.1), num_classes=3, label_smoothing=0.0))
  new = update(state, jnp.ones((2, 3)), jnp.array([0, 1]))
  assert int(new.bad_step) == 0
  np.testing.assert_array_equal(new.params["w"], state.params["w"])
