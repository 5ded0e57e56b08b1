"""The installable package: pins agree with requirements.txt, the installed commands run the
quickstart on synthetic data from another directory (its progress lines and event files are
checked here too), and a foreign module under one of the project's names is refused."""
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cifar_invariance import startup
from common import tensorboard_events
from tests.conftest import REPO_ROOT
from tests.event_reader import read_scalars

# The quickstart config, shrunk to seconds on synthetic data (like tests/conftest.tiny_config).
_TINY_QUICKSTART = [
    "--config", "configs/quickstart.py", "--config.data.source=synthetic",
    "--config.data.synthetic_train_size=256", "--config.data.synthetic_test_size=64",
    "--config.model.width=8", "--config.train.num_steps=12", "--config.train.batch_size=32",
    "--config.train.eval_batch_size=32", "--config.train.log_every_steps=4",
    "--config.train.warmup_epochs=0"]
_LOG_STEPS = [4, 8, 12]


def _pyproject():
  with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as f:
    return tomllib.load(f)


def _pins(lines):
  """{canonical name: specifier string} of requirement lines (comments and blanks skipped)."""
  pins = {}
  for line in lines:
    line = line.split("#", 1)[0].strip()
    if line:
      requirement = Requirement(line)
      pins[canonicalize_name(requirement.name)] = str(requirement.specifier)
  return pins


def test_requirements_txt_and_pyproject_pin_the_same_versions():
  project = _pyproject()
  with open(os.path.join(REPO_ROOT, "requirements.txt")) as f:
    requirements = _pins(f)
  dependencies = _pins(project["project"]["dependencies"])
  test_extra = _pins(project["project"]["optional-dependencies"]["test"])
  assert requirements == {**dependencies, **test_extra}
  assert all(spec.startswith("==") for spec in requirements.values()), requirements
  # The pinned setuptools can build the package offline (tests below, --no-build-isolation).
  (backend,) = [Requirement(r) for r in project["build-system"]["requires"]]
  assert backend.specifier.contains(requirements["setuptools"].removeprefix("=="))


def test_pyproject_installs_every_project_package_and_module():
  project = _pyproject()
  include = project["tool"]["setuptools"]["packages"]["find"]["include"]
  top_level = sorted({name.split(".")[0] for name in include})
  assert top_level == sorted(startup.PROJECT_PACKAGES + ("cifar_invariance",))
  assert sorted(project["tool"]["setuptools"]["py-modules"]) == sorted(startup.PROJECT_MODULES)
  on_disk = sorted(name for name in os.listdir(REPO_ROOT)
                   if os.path.isfile(os.path.join(REPO_ROOT, name, "__init__.py"))
                   and name != "tests")
  assert on_disk == top_level
  assert project["project"]["name"] == startup.DISTRIBUTION
  for command, target in project["project"]["scripts"].items():
    module, function = target.split(":")
    assert module == "cifar_invariance.cli" and function in ("train", "sweep", "evaluate"), command


def test_shipped_config_paths_resolve_from_any_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  shipped = os.path.join(startup.project_root(), "configs")
  argv = ["train", "--config", "configs/quickstart.py", "--config.train.num_epochs=2",
          "--config=configs/sweeps/blurpool_filters.py:cpu", "--workdir", "configs/x.py"]
  assert startup.resolve_config_arguments(argv) == [
      "train", "--config", os.path.join(shipped, "quickstart.py"),
      "--config.train.num_epochs=2",
      "--config=" + os.path.join(shipped, "sweeps", "blurpool_filters.py") + ":cpu",
      "--workdir", "configs/x.py"]
  (tmp_path / "configs").mkdir()
  (tmp_path / "configs" / "quickstart.py").write_text("")  # the user's own file wins
  assert startup.resolve_config_path("configs/quickstart.py") == "configs/quickstart.py"
  assert startup.resolve_config_path("configs/nonexistent.py:x") == "configs/nonexistent.py:x"


@pytest.mark.slow
def test_foreign_package_in_the_current_directory_is_refused_by_python_m_evaluate(tmp_path):
  (tmp_path / "models").mkdir()
  (tmp_path / "models" / "__init__.py").write_text("raise SystemExit('foreign code ran')\n")
  env = dict(os.environ, PYTHONPATH=REPO_ROOT)
  result = subprocess.run([sys.executable, "-m", "evaluate", "--workdir", "x"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr
  assert "'models' from " + str(tmp_path / "models" / "__init__.py") in result.stderr
  assert "(in the current directory)" in result.stderr and "foreign code ran" not in result.stderr


# ---- The installed package (built from a copy of the checkout, offline), run from elsewhere.

_NOT_PACKAGED = (".git", ".venv", "runs", "build", "*.egg-info", "__pycache__",
                 ".pytest_cache", "docs", "notebooks", "tests")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  """(site directory with the installed project and bin/, environment to run it with)."""
  root = tmp_path_factory.mktemp("installed")
  source, site = root / "source", root / "site"
  shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(*_NOT_PACKAGED))
  subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                  "--no-build-isolation", "--no-index", "--disable-pip-version-check",
                  "--target", str(site), str(source)], check=True, timeout=300)
  env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
  env.update(PYTHONPATH=str(site), JAX_PLATFORMS="cpu")
  return site, env


@pytest.fixture(scope="module")
def installed_run(installed, tmp_path_factory):
  """The installed `train` command run on the quickstart config from an empty directory,
  stdout to a pipe: (completed process, workdir)."""
  site, env = installed
  elsewhere = tmp_path_factory.mktemp("elsewhere")
  result = subprocess.run([str(site / "bin" / "train"), *_TINY_QUICKSTART, "--workdir", "run"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
  return result, elsewhere / "run"


@pytest.mark.slow
def test_installed_train_runs_the_quickstart_from_another_directory(installed, installed_run):
  result, workdir = installed_run
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.loads((workdir / "summary.json").read_text())
  assert summary["steps"] == 12 and summary["model"] == "alexnet"
  site, _ = installed
  assert (site / "configs" / "quickstart.py").is_file() and not (site / "tests").exists()


@pytest.mark.slow
def test_output_to_a_pipe_is_one_line_per_log_step(installed_run):
  result, _ = installed_run
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.splitlines()
  assert "\r" not in result.stdout
  step_lines = [line for line in lines if line.startswith("step ")]
  assert [int(re.match(r"step (\d+)/12", line).group(1)) for line in step_lines] == _LOG_STEPS
  assert len(lines) == len(step_lines) + 2  # the header line and the final "done" line
  assert lines[0].startswith("AlexNet") and lines[-1].startswith("done: test accuracy")


@pytest.mark.slow
def test_event_files_hold_the_values_of_metrics_jsonl(installed_run):
  result, workdir = installed_run
  assert result.returncode == 0, result.stderr[-3000:]
  expected = {}
  for line in (workdir / "metrics.jsonl").read_text().splitlines():
    record = json.loads(line)
    for tag, value in tensorboard_events.record_scalars(record).items():
      expected.setdefault(tag, []).append((record["step"], value))
  assert {"train_loss", "train_accuracy", "learning_rate", "images_per_sec",
          "test_accuracy"} <= set(expected)
  events = read_scalars(str(workdir), tensorboard_events.TRAIN_SUFFIX)
  assert sorted(events) == sorted(expected)
  for tag, points in expected.items():
    assert [step for step, _ in events[tag]] == [step for step, _ in points], tag
    assert [v for _, v in events[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag


@pytest.mark.slow
def test_installed_command_refuses_a_foreign_evaluate_package(installed, tmp_path):
  site, env = installed
  foreign = tmp_path / "foreign"
  (foreign / "evaluate").mkdir(parents=True)
  (foreign / "evaluate" / "__init__.py").write_text("raise SystemExit('foreign code ran')\n")
  env = dict(env, PYTHONPATH=os.pathsep.join([str(foreign), str(site)]))
  for command in ("evaluate", "train"):
    result = subprocess.run([str(site / "bin" / command), "--workdir", "x"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"'evaluate' from {foreign / 'evaluate' / '__init__.py'}" in result.stderr
    assert "PYTHONPATH" in result.stderr and "foreign code ran" not in result.stderr


@pytest.mark.slow
def test_installed_sweep_lists_a_shipped_sweep_config(installed, tmp_path):
  site, env = installed
  result = subprocess.run([str(site / "bin" / "cifar-sweep"), "--config",
                           "configs/sweeps/blurpool_filters.py:cpu", "--workdir", "sweep",
                           "--list"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert len(result.stdout.splitlines()) == 4 and "not started" in result.stdout
