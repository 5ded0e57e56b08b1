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


@pytest.mark.slow
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


# ---- the README's quick start, as written

FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
# Kept short on the command line (the README's run is 4 epochs of 50,000 images).
SHORTER = " --config.train.num_steps=2 --config.eval.num_images=4"


def readme_quick_start() -> list[str]:
  """The command lines of the README's quick-start code block: setup, train, evaluate."""
  text = (Path(REPO_ROOT) / "README.md").read_text()
  section = text[text.index("## Quick start"):]
  block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
  return [line for line in block.splitlines() if line.strip()]


def _project_copy(root: Path) -> Path:
  """root/repo: the project's files (no .git, runs or caches), with .venv the running venv;
  root/shared/data/cifar10-jpeg: a tiny image-folder CIFAR-10 (130 train, 10 test images),
  where the README's relative path ../shared/data/cifar10-jpeg finds it."""
  repo = root / "repo"
  shutil.copytree(REPO_ROOT, repo, ignore=shutil.ignore_patterns(
      ".git", "runs", "__pycache__", ".venv", ".pytest_cache"))
  os.symlink(sys.prefix, repo / ".venv")
  write_image_tree(root / "shared" / "data" / "cifar10-jpeg", train_per_class=13,
                   test_per_class=1)
  return repo


@pytest.mark.slow
def test_readme_quick_start_runs_as_written(tmp_path):
  if sys.prefix == sys.base_prefix:
    pytest.skip("the README's .venv/bin/python needs the tests to run in a virtual environment")
  setup, train, evaluate = readme_quick_start()
  assert setup.startswith("python3 -m venv .venv")  # (not run: it installs from the network)
  assert train.startswith("CIFAR10_DIR=../shared/data/cifar10-jpeg .venv/bin/python train.py")
  assert evaluate == ".venv/bin/python -m evaluate --workdir runs/quickstart"
  repo = _project_copy(tmp_path)
  env = {key: value for key, value in os.environ.items() if key != "CIFAR10_DIR"}
  env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=FAST_COMPILE, XDG_CACHE_HOME=str(tmp_path / "cache"))
  for line in (train + SHORTER, evaluate):
    done = subprocess.run(line, shell=True, cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
  recorded = json.loads((repo / "runs" / "quickstart" / run_files.DATA_LOCATION_FILE).read_text())
  assert recorded["dir"] == str(tmp_path / "shared" / "data" / "cifar10-jpeg")
  assert (repo / "runs" / "quickstart" / "eval" / "eval.json").exists()
