"""`load_run_config(workdir)`: the config a run saved (config.json), completed for options added
since it ran; `run_data_config`: its data settings, or another copy of CIFAR-10."""
from __future__ import annotations

import os
from typing import Optional

import ml_collections

import models
from runtime import checkpointing, run_files


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's resolved config from `workdir/config.json`: the config it started with, with the
  changes of every resume applied (so the config of its latest session).

  Raises:
    FileNotFoundError if the workdir (or its config.json) does not exist.
  """
  path = os.path.join(workdir, run_files.CONFIG_FILE)
  if not os.path.exists(path):
    what = "directory" if not os.path.isdir(workdir) else run_files.CONFIG_FILE
    raise FileNotFoundError(f"{workdir!r} is not a training run: no {what} ({path}). Pass the "
                            "--workdir that train.py wrote.")
  saved, resumes = run_files.read_config_file(workdir)
  if saved is None:
    raise FileNotFoundError(f"{path} cannot be read as JSON.")
  for resume in resumes:
    for name, (_, new) in resume.get("changed", {}).items():
      _set_dotted(saved, name, new)
  return config_from_json(saved)


def load_checkpoint_config(workdir: str) -> ml_collections.ConfigDict:
  """The config saved with the latest checkpoint (what its weights were trained with, e.g. after
  a resume that changed the model's dtype), or load_run_config(workdir) for checkpoints saved
  without one (or a workdir without checkpoints).

  Raises:
    FileNotFoundError if the workdir has no config.json.
  """
  run_config = load_run_config(workdir)
  latest = checkpointing.read_latest_config(workdir)
  if latest is None or latest[1] is None:
    return run_config
  return config_from_json(latest[1])


def config_from_json(saved: dict) -> ml_collections.ConfigDict:
  """A saved run config (JSON dict, e.g. a checkpoint's config item) as a ConfigDict, completed
  for model options added since it was saved."""
  saved = dict(saved)
  if "model" in saved:  # a run saved before an option existed gets the behaviour it had
    saved["model"] = models.complete_saved_options(saved["model"])
  return ml_collections.ConfigDict(saved)


def _set_dotted(tree: dict, name: str, value) -> None:
  *parents, leaf = name.split(".")
  for key in parents:
    tree = tree.setdefault(key, {})
  tree[leaf] = value


def run_data_config(run_config: ml_collections.ConfigDict,
                    data_dir: Optional[str] = None) -> ml_collections.ConfigDict:
  """The data settings to load a run's test set with: the run's own `config.data`, or, with
  `data_dir`, the CIFAR-10 copy in that directory (image folder tree or cifar-10-batches-py;
  source 'auto'), e.g. on another machine. The run config is not modified."""
  if not data_dir:
    return run_config.data
  data_config = ml_collections.ConfigDict(run_config.data.to_dict())
  data_config.source, data_config.dir = "auto", os.fspath(data_dir)
  return data_config
