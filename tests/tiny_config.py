"""The tiny test config (tests/conftest.tiny_config) as a config file, for train.py in
subprocess tests (tests/tiny_run.py): `--config tests/tiny_config.py`."""
from tests.conftest import tiny_config


def get_config():
  return tiny_config()
