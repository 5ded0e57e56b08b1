"""`quiet_library_logs()`: keep warnings from everyone, INFO lines only from this project."""
import logging

from absl import logging as absl_logging


class _OwnInfoOnly(logging.Filter):
  """Passes warnings from everyone, INFO only from this project's modules.

  orbax and JAX log many INFO lines through absl per checkpoint; the project's own INFO lines
  (e.g. progress while decoding an image folder) are kept.
  """

  def filter(self, record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not record.name.startswith(("absl", "jax"))


def quiet_library_logs() -> None:
  """Installs the filter on absl's handler; for entry points (train.py, sweep.py) to call."""
  absl_logging.get_absl_handler().addFilter(_OwnInfoOnly())
