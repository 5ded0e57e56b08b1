"""Resuming a run (in this process, tiny runs): what may change and what is refused, the resume
log in config.json, the fall-back to the previous checkpoint when the latest cannot be read,
and checkpoints written before configs were saved with them (evaluate and resume)."""
import errno
import json
import os
import shutil
import sys

import numpy as np
import orbax.checkpoint as ocp
import pytest

from pipeline.train_then_evaluate import train_and_evaluate
from runtime import checkpointing, numerics, resume_config, run_files
from runtime.mesh import make_data_parallel_mesh
from runtime.run_config import load_run_config
from tests.conftest import tiny_config
from tests.tiny_run import params_digest

import models


def _config():
  """The tiny config at width 4, 8 steps: checkpoints 4 and 8."""
  config = tiny_config()
  config.model.width = 4
  config.train.num_steps = 8
  return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """(workdir, {step: params digest}) of a finished 8-step run; tests copy the workdir."""
  workdir = str(tmp_path_factory.mktemp("resume") / "run")
  train_and_evaluate(_config(), workdir)
  digests = {}
  for step in (4, 8):
    copy = str(tmp_path_factory.mktemp("only") / "run")
    shutil.copytree(workdir, copy)
    for other in {4, 8} - {step}:
      shutil.rmtree(os.path.join(copy, "checkpoints", str(other)))
    tree, restored = checkpointing.load_latest(copy)
    assert restored == step
    digests[step] = params_digest(tree["params"])
  return workdir, digests


def _copy(finished, tmp_path):
  return shutil.copytree(finished[0], tmp_path / "run")


def _model_digest(workdir):
  model = models.build_model(**_config().model)
  restored = checkpointing.restore_model_variables(
      str(workdir), model, make_data_parallel_mesh().replicated)
  return restored.step, params_digest(restored.state["params"])


# (A failed read must not leave tensorstore's reports to orbax's closed event loop behind:
# pyproject.toml makes every unraisable exception fail the test, suite-wide.)
@pytest.mark.slow
def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(finished, tmp_path, capsys):
  workdir = _copy(finished, tmp_path)
  (workdir / "checkpoints" / "8" / "state" / "manifest.ocdbt").write_bytes(b"corrupt")
  assert _model_digest(workdir) == (4, finished[1][4])  # evaluation's restore
  assert "step 8: its state cannot be restored" in capsys.readouterr().err
  summary = train_and_evaluate(_config(), str(workdir))  # resume: from 4, then 8 again
  assert summary["resumed_from_step"] == 4 and summary["steps"] == 8
  err = capsys.readouterr().err
  assert "warning: the latest checkpoint(s)" in err and "using step 4 instead" in err
  moved = os.listdir(workdir / checkpointing.UNRESTORABLE_SUBDIR)
  assert len(moved) == 1 and moved[0].startswith("8-")
  assert _model_digest(workdir) == (8, finished[1][8])  # bit-identical to the uninterrupted run


def _count_managers(monkeypatch):
  """(opened, closed): the orbax CheckpointManagers created and closed from now on."""
  opened, closed = [], []
  real_init, real_close = ocp.CheckpointManager.__init__, ocp.CheckpointManager.close

  def init(self, *args, **kwargs):
    opened.append(id(self))
    real_init(self, *args, **kwargs)

  def close(self):
    closed.append(id(self))
    real_close(self)

  monkeypatch.setattr(ocp.CheckpointManager, "__init__", init)
  monkeypatch.setattr(ocp.CheckpointManager, "close", close)
  return opened, closed


@pytest.mark.slow
def test_no_restorable_checkpoint_is_an_error_naming_each(finished, tmp_path, monkeypatch):
  workdir = _copy(finished, tmp_path)
  for step in ("4", "8"):
    (workdir / "checkpoints" / step / "config" / "metadata").write_text("{")
  with pytest.raises(checkpointing.UnrestorableCheckpointError, match="step 8: its config"):
    checkpointing.load_latest(str(workdir))
  opened, closed = _count_managers(monkeypatch)
  with pytest.raises(checkpointing.UnrestorableCheckpointError, match="step 4: its config"):
    train_and_evaluate(_config(), str(workdir))
  # Every checkpoint manager (orbax threads) opened on the way was closed on the way out.
  assert len(opened) >= 2 and sorted(closed) == sorted(opened)


def _fail_metadata_writes(monkeypatch):
  """orbax's background write of a checkpoint's tree metadata file fails as on a full disk."""
  from orbax.checkpoint._src.handlers import base_pytree_checkpoint_handler as handler  # pylint: disable=g-import-not-at-top
  from orbax.checkpoint._src.path import async_path  # pylint: disable=g-import-not-at-top
  real_write_text = async_path.write_text

  async def write_text(path, text):
    if str(path).endswith(handler.PYTREE_METADATA_FILE):
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return await real_write_text(path, text)

  monkeypatch.setattr(async_path, "write_text", write_text)


@pytest.mark.slow
def test_a_failed_background_write_still_closes_every_orbax_part(tmp_path, monkeypatch):
  """A write that fails in orbax's background thread is reported by close() as a
  CheckpointWriteError, and close() still closes the manager's checkpointer handler and
  metadata stores (nothing of orbax's is left to the garbage collector)."""
  _fail_metadata_writes(monkeypatch)
  writer = checkpointing.CheckpointWriter(str(tmp_path / "run"), keep=2)
  manager = writer._manager  # pylint: disable=protected-access
  parts = [manager._checkpointer.handler, manager._checkpointer._metadata_store,  # pylint: disable=protected-access
           manager._non_blocking_metadata_store, manager._blocking_metadata_store]  # pylint: disable=protected-access
  closed = []
  for part in parts:
    real_close = part.close
    monkeypatch.setattr(part, "close", lambda real_close=real_close, part=part: (
        closed.append(id(part)), real_close())[1])
  writer.save(1, {"w": np.ones(3, np.float32)}, {"seed": 0})
  with pytest.raises(checkpointing.CheckpointWriteError, match="the disk is full"):
    writer.close()
  assert set(closed) == {id(part) for part in parts}
  assert not os.path.isdir(tmp_path / "run" / "checkpoints" / "1")


@pytest.mark.slow
def test_closed_loop_reports_are_dropped_during_a_read_and_only_after_it_fails(
    finished, tmp_path, monkeypatch):
  """tensorstore's reports to orbax's closed event loop can come before a failed read reaches
  the fallback: the drop is in place while each read runs, stays after a failure, and the
  hook before it is back after a read that succeeded."""
  current = sys.unraisablehook  # (may already drop them, after an earlier test's failure)
  before = lambda unraisable: current(unraisable)  # pylint: disable=unnecessary-lambda
  monkeypatch.setattr(sys, "unraisablehook", before)  # the test's starting hook; restored after
  dropping = []

  def restore_state(step):
    dropping.append(getattr(sys.unraisablehook, "drops_closed_loop_reports", False))
    if step == 8:
      raise ValueError("corrupt")
    return step

  with checkpointing._open_reader(_copy(finished, tmp_path)) as manager:  # pylint: disable=protected-access
    restored = checkpointing._restore_with_fallback(manager, restore_state, None)  # pylint: disable=protected-access
  assert restored.step == 4 and dropping == [True, True, True]  # 8, 8 again (the retry), 4
  assert sys.unraisablehook is not before and sys.unraisablehook.drops_closed_loop_reports
  sys.unraisablehook = before
  with checkpointing._open_reader(str(tmp_path / "run")) as manager:  # pylint: disable=protected-access
    checkpointing._restore_with_fallback(manager, lambda step: step, None)  # pylint: disable=protected-access
  assert sys.unraisablehook is before


@pytest.mark.slow
def test_allowed_and_free_changes_resume_and_are_logged_in_config_json(finished, tmp_path):
  workdir = _copy(finished, tmp_path)
  config = _config()
  config.train.num_steps = 12  # changes the run: allowed by name
  config.train.log_every_steps = 2  # only logging: free
  config.resume.allow_changes = "train.num_steps"
  summary = train_and_evaluate(config, str(workdir))
  assert summary["resumed_from_step"] == 8 and summary["steps"] == 12
  saved = json.loads((workdir / "config.json").read_text())
  assert saved["train"]["num_steps"] == 8  # how the run started
  (resume,) = saved[run_files.RESUMES_KEY]
  assert resume["from_step"] == 8 and resume["allowed_by_override"] == ["train.num_steps"]
  assert resume["changed"] == {"resume.allow_changes": ["", "train.num_steps"],
                               "train.log_every_steps": [4, 2], "train.num_steps": [8, 12]}
  assert load_run_config(str(workdir)).train.num_steps == 12  # the latest session's config
  step, item = checkpointing.read_latest_config(str(workdir))
  assert step == 12 and item["train"]["num_steps"] == 12  # saved with the checkpoint
  # The next resume compares with checkpoint 12's config: the same config resumes as is.
  assert not resume_config.check_resume(item, config).refused


@pytest.mark.slow
def test_refused_resume_names_every_field_and_allow_changes_must_name_fields(finished, tmp_path):
  workdir = _copy(finished, tmp_path)
  config = _config()
  config.train.optimizer, config.train.batch_size, config.augment.policies = "adamw", 16, ""
  config.resume.allow_changes = "train.optimizer"
  with pytest.raises(resume_config.ConfigMismatchError) as refused:
    train_and_evaluate(config, str(workdir))
  message = str(refused.value)
  assert "train.batch_size: 32 -> 16" in message and "augment.policies: 'crop,flip' -> ''" in message
  assert "train.optimizer" not in message  # allowed by name
  config.resume.allow_changes = "train.optimiser"
  with pytest.raises(ValueError, match="'train.optimiser', which is not a field"):
    train_and_evaluate(config, str(workdir))
  assert sorted(os.listdir(workdir / "checkpoints")) == ["4", "8"]


def test_config_comparison_sorts_free_allowed_and_refused_fields():
  saved = json.loads(_config().to_json())
  saved["train"]["removed_option"] = 1  # a field the new config lacks: not compared
  new = _config()
  new.train.learning_rate, new.train.momentum = 0.1, 0.5
  new.data.dir, new.eval.num_images, new.train.keep_checkpoints = "/elsewhere", 3, 1
  new.resume.allow_changes = "train"  # a whole section
  changes = resume_config.compare(saved, new)
  assert sorted(changes.free) == ["data.dir", "eval.num_images", "resume.allow_changes",
                                  "train.keep_checkpoints"]
  assert changes.allowed == {"train.learning_rate": (0.05, 0.1), "train.momentum": (0.9, 0.5)}
  assert not changes.refused and changes.not_compared == ["train.removed_option"]
  new.resume.allow_changes = ""
  assert sorted(resume_config.compare(saved, new).refused) == ["train.learning_rate",
                                                               "train.momentum"]


def _make_legacy(workdir):
  """Rewrites the latest checkpoint of `workdir` (the only one kept) as the project wrote them
  before configs were saved with checkpoints: one orbax item ('default') holding the state."""
  tree, step = checkpointing.load_latest(str(workdir))
  directory = checkpointing.checkpoint_dir(str(workdir))
  shutil.rmtree(directory)
  manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(create=True))
  manager.save(step, args=ocp.args.StandardSave(tree), force=True)
  manager.wait_until_finished()
  manager.close()
  return step


@pytest.mark.slow
def test_checkpoint_without_a_config_item_evaluates_and_resumes(finished, tmp_path):
  workdir = _copy(finished, tmp_path)
  shutil.rmtree(workdir / "checkpoints" / "8")
  assert _make_legacy(workdir) == 4
  assert os.listdir(workdir / "checkpoints" / "4").count("default") == 1
  assert checkpointing.read_latest_config(str(workdir)) == (4, None)
  assert _model_digest(workdir) == (4, finished[1][4])
  changed = _config()
  changed.model.width = 8  # compared with config.json, as before
  with pytest.raises(resume_config.ConfigMismatchError, match="config.json"):
    train_and_evaluate(changed, str(workdir))
  summary = train_and_evaluate(_config(), str(workdir))
  assert summary["resumed_from_step"] == 4 and summary["steps"] == 8
  assert _model_digest(workdir) == (8, finished[1][8])


@pytest.mark.slow
def test_a_field_the_saved_config_lacks_is_compared_with_its_default(finished, tmp_path):
  """A run saved before train.label_smoothing existed (config.json without it, a checkpoint
  without a config item) effectively trained with its default, 0.0."""
  workdir = _copy(finished, tmp_path)
  shutil.rmtree(workdir / "checkpoints" / "8")
  _make_legacy(workdir)
  saved = json.loads((workdir / "config.json").read_text())
  del saved["train"]["label_smoothing"]
  (workdir / "config.json").write_text(json.dumps(saved))
  changed = _config()
  changed.train.label_smoothing = 0.1
  with pytest.raises(resume_config.ConfigMismatchError,
                     match=r"train.label_smoothing: 0.0 \(its default.*\) -> 0.1"):
    train_and_evaluate(changed, str(workdir))
  changed.resume.allow_changes = "train.label_smoothing"
  allowed = resume_config.check_resume(saved, changed)
  assert allowed.allowed == {"train.label_smoothing": (0.0, 0.1)}
  assert allowed.defaulted == ["train.label_smoothing"]
  summary = train_and_evaluate(_config(), str(workdir))  # the default value: resumes silently
  assert summary["resumed_from_step"] == 4 and summary["steps"] == 8
  (resume,) = json.loads((workdir / "config.json").read_text())[run_files.RESUMES_KEY]
  assert resume["changed"] == {}


def test_new_fields_without_a_default_are_not_compared():
  saved = json.loads(_config().to_json())
  new = _config()
  new.train.experiment_only = 3  # in no default config
  changes = resume_config.compare(saved, new)
  assert changes.not_compared == ["train.experiment_only"] and not changes.refused
  changes = resume_config.compare(saved, new, defaults={"train.experiment_only": 2})
  assert changes.refused == {"train.experiment_only": (2, 3)}


def test_deterministic_gpu_ops_flag_is_set_before_jax_starts_or_refused():
  environ = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  numerics.require_deterministic_gpu_ops(environ, backends_started=False)
  assert environ["XLA_FLAGS"].split() == ["--xla_force_host_platform_device_count=2",
                                          "--xla_gpu_deterministic_ops=true"]
  numerics.require_deterministic_gpu_ops(environ, backends_started=True)  # already set: fine
  with pytest.raises(ValueError, match="JAX has already started"):
    numerics.require_deterministic_gpu_ops({}, backends_started=True)
  with pytest.raises(ValueError, match="sets --xla_gpu_deterministic_ops=false"):
    numerics.require_deterministic_gpu_ops(
        {"XLA_FLAGS": "--xla_gpu_deterministic_ops=false"}, backends_started=False)
