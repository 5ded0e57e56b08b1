"""Checkpoints across device counts and faults, each run in a fresh process: train.py's own
main() on the tiny config at width 4 (tests/tiny_run.py, with fault injection), on 1, 2 or 8
fake CPU devices.

- A run saved on 8 devices evaluates, is analysed and resumes on 1 and on 2, and one saved on 1
  on 8: the restored parameters equal the saved ones bit for bit, the resumed run finishes.
- SIGKILL while checkpoint 8 is being written in the background: the resumed run starts from
  checkpoint 4 and ends bit-identical to an uninterrupted run (CPU); TensorBoard's own reader
  shows each step once, with the values of metrics.jsonl.
- A full disk while writing checkpoint 8, a NaN after checkpoint 4: exit status 1, stderr
  ending with the one-line message and no traceback, the last good checkpoint intact and
  restorable. A changed config on resume (train.py's main() in this process): refused in one
  message naming each changed field. (An empty CIFAR10_DIR: tests/test_user_errors.py.)

Two module-scoped runs (1 and 8 devices, 12 steps, checkpoints 4, 8, 12) are shared.
"""
import json
import os
import shutil

import jax
import numpy as np
import pytest

from runtime import checkpointing
from tests.event_reader import read_scalars
from tests.tiny_run import WIDTH, Run, params_digest, run_tiny, train_main_in_process

pytestmark = pytest.mark.slow  # every test here starts processes

@pytest.fixture(scope="module")
def on_1(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run") / "on_1"
  return str(workdir), run_tiny(workdir, devices=1)


@pytest.fixture(scope="module")
def on_8(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run") / "on_8"
  return str(workdir), run_tiny(workdir, devices=8)


def _copy_up_to_step_8(workdir, destination):
  """A copy of a finished 12-step run whose latest checkpoint is 8."""
  shutil.copytree(workdir, destination)
  shutil.rmtree(os.path.join(destination, "checkpoints", "12"))
  return destination


def test_one_and_eight_devices_give_the_same_loss(on_1, on_8):
  (_, one), (_, eight) = on_1, on_8
  assert one.summary["num_devices"] == 1 and eight.summary["num_devices"] == 8
  np.testing.assert_allclose(eight.summary["last_train_loss"], one.summary["last_train_loss"],
                             rtol=1e-4)
  np.testing.assert_allclose(eight.summary["final_test_accuracy"],
                             one.summary["final_test_accuracy"], atol=1 / 64)
  assert sorted(one.steps("saved")) == [4, 8, 12]


@pytest.mark.parametrize("saved_on,resumed_on", [(8, 1), (1, 8), (8, 2)])
def test_checkpoint_evaluates_and_resumes_on_another_device_count(
    request, tmp_path, saved_on, resumed_on):
  workdir, saved = request.getfixturevalue(f"on_{saved_on}")
  copy = _copy_up_to_step_8(workdir, str(tmp_path / "copy"))
  evaluate = resumed_on != 2  # (8 -> 2: resume only, to save a compilation)
  run = run_tiny(copy, *(["--evaluate-first"] if evaluate else []), devices=resumed_on)
  step_8 = saved.steps("saved")[8]
  # Evaluation and the layer analyses restored checkpoint 8 bit for bit, at full precision...
  if evaluate:
    assert run.evaluated() == [(8, step_8), (8, step_8)]
    assert any(r.get("eval_step") == 8 and r["matmul_precision"] == "highest"
               for r in run.records)
  # ... and so did the resumed run, which finished on the new device count.
  assert run.steps("restored") == {8: step_8}
  assert run.summary["steps"] == 12 and run.summary["resumed_from_step"] == 8
  assert run.summary["num_devices"] == resumed_on
  np.testing.assert_allclose(run.summary["last_train_loss"], saved.summary["last_train_loss"],
                             rtol=1e-4)
  resumes = json.loads((tmp_path / "copy" / "config.json").read_text())["resumes"]
  assert [(r["from_step"], r["num_devices"]) for r in resumes] == [(8, resumed_on)]


def test_run_killed_while_a_checkpoint_is_written_resumes_bit_identically(tmp_path, on_1):
  _, straight = on_1
  workdir = tmp_path / "killed"
  killed = run_tiny(workdir, "--kill-during-save", "8", check=False)
  assert killed.returncode == -9, killed.stderr[-2000:]
  # Killed inside orbax's background write of checkpoint 8: only its temporary directory exists.
  names = os.listdir(workdir / "checkpoints")
  assert "4" in names and "8" not in names
  assert any(name.startswith("8.") for name in names), names
  resumed = run_tiny(workdir)
  assert resumed.steps("restored") == {4: straight.steps("saved")[4]}
  assert resumed.steps("saved") == {8: straight.steps("saved")[8],
                                    12: straight.steps("saved")[12]}
  assert resumed.summary["params_digest"] == straight.summary["params_digest"]
  assert resumed.summary["final_test_accuracy"] == straight.summary["final_test_accuracy"]
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in records] == [4, 8, 12]
  # TensorBoard's own reader: the killed session's step 8 was purged and logged again.
  events = read_scalars(str(workdir))
  assert events["train_loss"] == [(r["step"], pytest.approx(r["train_loss"], rel=1e-6))
                                  for r in records]


def _assert_message_alone(run: Run, *fragments):
  assert run.returncode == 1, run.stderr[-3000:]
  assert run.last_stderr_line.startswith("error: "), run.stderr[-3000:]
  for fragment in fragments:
    assert fragment in run.last_stderr_line, run.last_stderr_line
  assert "Traceback" not in run.stderr, run.stderr[-3000:]


def _restored_digest(workdir, step):
  tree, restored_step = checkpointing.load_latest(str(workdir))
  assert restored_step == step
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(tree["params"]))
  return params_digest(tree["params"])


def test_full_disk_stops_with_a_message_and_keeps_the_previous_checkpoint(tmp_path):
  workdir = tmp_path / "full"
  run = run_tiny(workdir, "--disk-full-during-save", "8", check=False)
  _assert_message_alone(run, "Could not write checkpoint 8", "the disk is full",
                        "checkpoint 4 is intact")
  assert "8" not in os.listdir(workdir / "checkpoints")
  assert _restored_digest(workdir, 4) == run.steps("saved")[4]
  assert not (workdir / "summary.json").exists()


def test_nan_after_a_checkpoint_exits_non_zero_and_keeps_the_good_checkpoint(tmp_path):
  workdir = tmp_path / "nan"
  run = run_tiny(workdir, "--nan-at-step", "6", check=False)
  _assert_message_alone(run, "Training diverged", "NaN/inf at step 5",
                        "the last checkpoint (step 4) is intact")
  assert os.listdir(workdir / "checkpoints") == ["4"]
  assert _restored_digest(workdir, 4) == run.steps("saved")[4]
  assert not (workdir / "summary.json").exists()


def test_changed_run_is_refused_on_resume_naming_each_field(tmp_path, on_1, monkeypatch):
  """train.py's main() in this process (the refusal comes before any compilation)."""
  workdir = shutil.copytree(on_1[0], tmp_path / "copy")
  with pytest.raises(SystemExit) as exited:
    train_main_in_process(monkeypatch, workdir, *WIDTH, "train.num_steps=16",
                          "train.optimizer=adamw", "seed=3")
  message = str(exited.value.code)
  assert message.startswith("error: "), message
  for change in ("train.num_steps: 12 -> 16", "train.optimizer: 'sgd' -> 'adamw'",
                 "seed: 0 -> 3"):
    assert change in message, message
  assert message.endswith("--config.resume.allow_changes=seed,train.num_steps,train.optimizer")
  assert "resumes" not in json.loads((workdir / "config.json").read_text())
