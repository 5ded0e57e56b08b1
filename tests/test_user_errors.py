"""The commands print the project's own errors (common.errors.UserError) as one line and let
every other exception through with its traceback: train.py's main(), in this process, with a
model registered here whose __call__ has a bug (a TypeError), and with an unknown model name.
"""
import inspect
import os
import traceback

import flax.linen as nn
import pytest

from common.errors import ConfigError, UserError
from common.registry import UnknownNameError
from data import DataError
from models.builder import MODELS
from runtime.checkpointing import CheckpointWriteError
from runtime.resume_config import ConfigMismatchError
from runtime.workdir_lock import WorkdirLockedError
from tests.tiny_run import REPO_ROOT, train_main_in_process
from training.divergence import TrainingDivergedError

_BROKEN = "test_model_with_a_bug"


class _ModelWithABug(nn.Module):
  """A researcher's new model whose forward pass has a bug: a shape error (TypeError), or its
  own check of its input (ValueError, the type train.py used to turn into one line)."""
  num_classes: int = 10
  bug: str = "shape"

  @nn.compact
  def __call__(self, x, train: bool = False, **unused):
    if self.bug == "check":
      raise ValueError("_ModelWithABug wants 64x64 images")
    return nn.Dense(self.num_classes)(x.reshape(x.shape[0] + 1, -1))  # TypeError: bad shape


@pytest.fixture(params=["shape", "check"])
def model_with_a_bug(request):
  def factory(**options):
    return _ModelWithABug(num_classes=options.get("num_classes", 10), bug=request.param)

  factory.__signature__ = inspect.signature(MODELS.get("alexnet"))  # accepts alexnet's options
  MODELS.register(_BROKEN)(factory)
  yield _BROKEN
  del MODELS._entries[_BROKEN]  # pylint: disable=protected-access


def _train_main(workdir, monkeypatch, *overrides):
  """train.py's main() on the tiny config with `--config.<override>` flags."""
  train_main_in_process(monkeypatch, workdir, *overrides)


def test_an_error_in_a_models_own_code_keeps_its_traceback(tmp_path, monkeypatch, capsys,
                                                            model_with_a_bug):
  with pytest.raises((TypeError, ValueError)) as raised:
    _train_main(tmp_path / "run", monkeypatch, f"model.name={model_with_a_bug}")
  assert not isinstance(raised.value, UserError)
  trace = "".join(traceback.format_exception(raised.value))
  assert "in __call__" in trace and "tests/test_user_errors.py" in trace, trace
  assert "error: " not in capsys.readouterr().err  # not turned into a one-line message


def test_the_projects_own_errors_stay_one_line(tmp_path, monkeypatch):
  """An unknown model fails at once, in one line listing the valid names, before any file."""
  with pytest.raises(SystemExit) as exited:
    _train_main(tmp_path / "run", monkeypatch, "model.name=alexnett")
  message = str(exited.value.code)
  assert message.startswith("error: Unknown model 'alexnett'") and "\n" not in message
  assert "alexnet_nostride" in message and "resnet20" in message
  assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_data_error_before_training_is_one_line_naming_the_folder(tmp_path, monkeypatch):
  """configs/quickstart.py with an empty CIFAR10_DIR: one line naming it, no checkpoint."""
  empty = tmp_path / "empty"
  empty.mkdir()
  monkeypatch.setenv("CIFAR10_DIR", str(empty))
  with pytest.raises(SystemExit) as exited:
    train_main_in_process(monkeypatch, tmp_path / "run",
                          config_file=os.path.join(REPO_ROOT, "configs", "quickstart.py"))
  message = str(exited.value.code)
  assert message.startswith("error: ") and "\n" not in message and str(empty) in message
  assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("error_type", [
    ConfigError, UnknownNameError, DataError, ConfigMismatchError, WorkdirLockedError,
    TrainingDivergedError, CheckpointWriteError])
def test_the_projects_error_types_are_user_errors(error_type):
  assert issubclass(error_type, UserError)
