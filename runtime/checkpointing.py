"""Checkpoints of the train state with orbax, and the check that a resumed run is the same model."""
from __future__ import annotations

import json
import os
from typing import Any, Optional

import ml_collections
import orbax.checkpoint as ocp

import models

# Config sections that define the model's parameters: a resumed run must match them exactly.
MODEL_DEFINING_SECTIONS = ("model",)


class ConfigMismatchError(ValueError):
  """The workdir holds a run whose model differs from the one the config asks for."""


def make_manager(workdir: str, keep: int) -> ocp.CheckpointManager:
  """A CheckpointManager in `workdir/checkpoints`, keeping the latest `keep` checkpoints.

  The training loop decides when to save (`save`); the manager only writes and prunes.
  """
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                         cleanup_tmp_directories=True)
  return ocp.CheckpointManager(checkpoint_dir(workdir), options=options)


def restore_latest(manager: ocp.CheckpointManager, target: Any) -> tuple[Any, Optional[int]]:
  """Restores the latest checkpoint into the structure, dtypes and shardings of `target`.

  Returns:
    (state, step): the restored state and its step, or (target, None) if there is none.
  """
  step = manager.latest_step()
  if step is None:
    return target, None
  restored = manager.restore(step, args=ocp.args.StandardRestore(target))
  return restored, step


def checkpoint_dir(workdir: str) -> str:
  """Where a run's checkpoints live."""
  return os.path.join(os.path.abspath(workdir), "checkpoints")


def load_latest(workdir: str) -> tuple[dict, int]:
  """Reads the latest checkpoint of `workdir` without knowing its model.

  Returns:
    (tree, step): the saved TrainState as a nested dict of arrays (keys 'params',
    'batch_stats', 'opt_state', 'step', ...) and its step.
  Raises:
    FileNotFoundError if the workdir has no checkpoint.
  """
  directory = checkpoint_dir(workdir)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"No checkpoints in {workdir!r} (no {directory}).")
  manager = ocp.CheckpointManager(directory,
                                  options=ocp.CheckpointManagerOptions(read_only=True))
  step = manager.latest_step()
  if step is None:
    raise FileNotFoundError(f"No finished checkpoint in {directory}.")
  tree = manager.restore(step, args=ocp.args.StandardRestore())
  manager.close()
  return tree, step


def save(manager: ocp.CheckpointManager, step: int, state: Any) -> None:
  """Saves `state` as checkpoint `step` (asynchronously; atomic on disk: a crash mid-save
  leaves only a temporary directory that the next run removes)."""
  manager.save(step, args=ocp.args.StandardSave(state), force=True)


def check_same_model(saved_config_path: str, config: ml_collections.ConfigDict) -> None:
  """Refuses to resume when a model-defining section differs from the saved config.

  Raises:
    ConfigMismatchError naming every differing field, with the saved and the new value.
  """
  with open(saved_config_path) as f:
    saved = json.load(f)
  new = json.loads(config.to_json())
  # Options the saved run predates count as their legacy value (or default) on both sides.
  saved["model"] = models.complete_saved_options(saved.get("model", {}))
  new["model"] = models.complete_saved_options(new.get("model", {}))
  differences = []
  for section in MODEL_DEFINING_SECTIONS:
    old_section, new_section = saved.get(section, {}), new.get(section, {})
    for key in sorted(set(old_section) | set(new_section)):
      if old_section.get(key) != new_section.get(key):
        differences.append(
            f"{section}.{key}: saved {old_section.get(key)!r}, now {new_section.get(key)!r}")
  if differences:
    raise ConfigMismatchError(
        "This workdir holds checkpoints of a different model; refusing to mix them.\n  "
        + "\n  ".join(differences)
        + "\nUse a new --workdir, or the saved model settings to resume.")
