"""Shared test fixtures: a tiny config that trains in seconds on synthetic data."""
import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)


def tiny_config():
  """A config for a few-second run: narrow AlexNet, 256 synthetic images, batch 32."""
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.data.source = "synthetic"
  config.data.synthetic_train_size = 256
  config.data.synthetic_test_size = 64
  config.model.name = "alexnet"
  config.model.width = 8
  config.augment.policies = "crop,flip"
  config.train.batch_size = 32
  config.train.num_steps = 12
  config.train.learning_rate = 0.05
  config.train.warmup_epochs = 0.0
  config.train.eval_batch_size = 32
  config.train.log_every_steps = 4
  config.train.checkpoint_every_steps = 4
  config.train.keep_checkpoints = 10
  return config


@pytest.fixture
def tiny():
  return tiny_config()
