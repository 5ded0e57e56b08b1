"""`load_run_config(workdir)`: the config a run saved (config.json), completed for options added
since it ran; `run_data_config`: its data settings, or another copy of CIFAR-10."""
from __future__ import annotations

import json
import os
from typing import Optional

import ml_collections

import models
from runtime import run_files


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's resolved config from `workdir/config.json`.

  Raises:
    FileNotFoundError if the workdir (or its config.json) does not exist.
  """
  path = os.path.join(workdir, run_files.CONFIG_FILE)
  if not os.path.exists(path):
    what = "directory" if not os.path.isdir(workdir) else run_files.CONFIG_FILE
    raise FileNotFoundError(f"{workdir!r} is not a training run: no {what} ({path}). Pass the "
                            "--workdir that train.py wrote.")
  with open(path) as f:
    saved = json.load(f)
  if "model" in saved:  # a run saved before an option existed gets the behaviour it had
    saved["model"] = models.complete_saved_options(saved["model"])
  return ml_collections.ConfigDict(saved)


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
