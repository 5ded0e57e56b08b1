"""Evaluation reads the data its run was trained on (runtime.run_files.write_data_location,
runtime.run_config.run_data_config): a run trained with $CIFAR10_DIR (relative) set only for
training evaluates without it; an explicit --data_dir or $CIFAR10_DIR at evaluation come first.
Then, slow, the README's quick-start commands as written, as subprocesses."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.constants import CIFAR10_CLASSES
from data.errors import DataError
from runtime import run_files
from runtime.run_config import load_run_config, run_data_config
from tests.conftest import REPO_ROOT, tiny_config


def write_image_tree(root: Path, train_per_class: int, test_per_class: int) -> Path:
  """root/{train,test}/<CIFAR-10 class>/NNNN.png: flat 32x32 images, one grey level per class."""
  for split, count in (("train", train_per_class), ("test", test_per_class)):
    for label, name in enumerate(CIFAR10_CLASSES):
      (root / split / name).mkdir(parents=True)
      for index in range(count):
        pixels = np.full((32, 32, 3), 20 * label + index, np.uint8)
        Image.fromarray(pixels).save(root / split / name / f"{index:04d}.png")
  return root


def _tiny_folder_run_config(cache_dir: Path):
  config = tiny_config()
  config.data.source, config.data.dir, config.data.cache_dir = "auto", "", str(cache_dir)
  config.model.width = 4
  config.train.batch_size, config.train.eval_batch_size = 8, 8
  config.train.num_steps, config.train.checkpoint_every_steps = 2, 2
  return config


def test_evaluation_uses_the_data_location_training_recorded(tmp_path, monkeypatch):
  from evaluate.run import evaluate_workdir  # pylint: disable=g-import-not-at-top
  from pipeline.train_then_evaluate import train_and_evaluate  # pylint: disable=g-import-not-at-top
  tree = write_image_tree(tmp_path / "data" / "cifar10", train_per_class=1, test_per_class=1)
  workdir = str(tmp_path / "run")
  monkeypatch.chdir(tmp_path)
  monkeypatch.setenv("CIFAR10_DIR", "data/cifar10")  # relative, and set for training only
  train_and_evaluate(_tiny_folder_run_config(tmp_path / "cache"), workdir)
  assert json.loads((tmp_path / "run" / run_files.DATA_LOCATION_FILE).read_text()) == {
      "source": "auto", "dir": str(tree)}
  monkeypatch.delenv("CIFAR10_DIR")
  monkeypatch.chdir(tmp_path / "run")  # the relative path would no longer resolve
  report = evaluate_workdir(workdir, {"num_images": 4, "protocols": {
      "circular": {"type": "circular_shift", "max_shift": 1}}}, verbose=False)
  assert report["checkpoint_step"] == 2
  per_image = np.load(os.path.join(workdir, "eval", "per_image.npz"))
  assert per_image["test_set_correct"].shape[-1] == 10  # the tree's 10 test images


def test_data_location_precedence(tmp_path):
  run_config = load_run_config_stub(tmp_path, recorded=str(tmp_path))
  workdir = str(tmp_path)
  assert run_data_config(run_config, workdir=workdir, environ={}).dir == str(tmp_path)
  assert run_data_config(run_config, "/flag", workdir, environ={}).dir == "/flag"
  from_env = run_data_config(run_config, workdir=workdir, environ={"CIFAR10_DIR": "/env"})
  assert from_env.dir == ""  # the 'auto' source reads $CIFAR10_DIR itself
  assert run_data_config(run_config, environ={}).dir == ""  # no workdir: the config as saved
  run_config.data.source = "synthetic"
  assert run_data_config(run_config, workdir=workdir, environ={}).dir == ""
  run_config.data.source = "auto"
  load_run_config_stub(tmp_path, recorded=str(tmp_path / "moved"))
  with pytest.raises(DataError, match="moved.*pass --data_dir DIR or set CIFAR10_DIR"):
    run_data_config(run_config, workdir=workdir, environ={})


def load_run_config_stub(workdir: Path, recorded: str):
  """A config.json (tiny config, data.dir '') and a data_location.json naming `recorded`."""
  config = tiny_config()
  config.data.source, config.data.dir = "auto", ""
  run_files.write_config(str(workdir), config)
  (workdir / run_files.DATA_LOCATION_FILE).write_text(json.dumps({"source": "auto",
                                                                  "dir": recorded}))
  return load_run_config(str(workdir))
