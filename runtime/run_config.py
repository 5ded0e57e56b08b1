"""`load_run_config(workdir)`: the config a run saved (config.json), completed for options added
since it ran; `run_data_config`: its data settings (where it was trained from), or another
copy of CIFAR-10."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Optional

import ml_collections

import models
from common.errors import MissingFileError
from data.config import CIFAR10_DIR_ENV, LOCAL_SOURCES
from data.errors import DataError
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
    raise MissingFileError(f"{workdir!r} is not a training run: no {what} ({path}). Pass the "
                            "--workdir that train.py wrote.")
  saved, resumes = run_files.read_config_file(workdir)
  if saved is None:
    raise MissingFileError(f"{path} cannot be read as JSON.")
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


def run_data_config(run_config: ml_collections.ConfigDict, data_dir: Optional[str] = None,
                    workdir: Optional[str] = None,
                    environ: Optional[Mapping[str, str]] = None) -> ml_collections.ConfigDict:
  """The data settings to load a run's test set with. The first that applies:
  1. `data_dir` (a command's --data_dir): the CIFAR-10 copy in that directory (image folder
     tree or cifar-10-batches-py; source 'auto'), e.g. on another machine;
  2. the run's own `config.data` when it reads no local copy (TFDS, synthetic), or when its
     `dir` is '' and $CIFAR10_DIR is set in `environ` (default os.environ) now;
  3. the absolute directory the run was trained on, recorded in `workdir` (run_files.
     write_data_location), e.g. $CIFAR10_DIR set only for training or a relative data.dir;
  4. the run's own `config.data`.
  The run config is not modified.

  Raises:
    DataError: the recorded directory (3) does not exist here.
  """
  environ = os.environ if environ is None else environ
  if data_dir:
    return _with_dir(run_config.data, "auto", os.fspath(data_dir))
  data = run_config.data
  source, directory = data.get("source", "auto"), data.get("dir", "")
  if source not in LOCAL_SOURCES or (not directory and environ.get(CIFAR10_DIR_ENV)):
    return data
  recorded = run_files.read_data_location(workdir) if workdir else None
  if recorded is None:
    return data
  if not os.path.isdir(recorded):
    raise DataError(f"The run was trained on CIFAR-10 from {recorded} (recorded in "
                    f"{os.path.join(workdir, run_files.DATA_LOCATION_FILE)}), which is not a "
                    f"directory here: pass --data_dir DIR or set {CIFAR10_DIR_ENV}.")
  return _with_dir(data, source, recorded)


def _with_dir(data: ml_collections.ConfigDict, source: str, directory: str
              ) -> ml_collections.ConfigDict:
  """A copy of the data section `data` reading `directory` with `source`."""
  data_config = ml_collections.ConfigDict(data.to_dict())
  data_config.source, data_config.dir = source, directory
  return data_config
