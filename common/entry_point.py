"""`start_entry_point(argv)`: what every command-line entry point does first (joining the
processes of a multi-host run is cifar_invariance.host_flags.run, below the project's layers)."""
import logging

from absl import app
from absl import logging as absl_logging


class _OwnInfoOnly(logging.Filter):
  """Passes warnings from everyone, INFO only from this project's modules.

  orbax and JAX log many INFO lines through absl per checkpoint; the project's own INFO lines
  (e.g. progress while decoding an image folder) are kept.
  """

  def filter(self, record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not record.name.startswith(("absl", "jax"))


def start_entry_point(argv) -> None:
  """For train.py and sweep.py: rejects stray arguments and keeps library INFO logs quiet.

  Raises:
    app.UsageError: positional arguments besides the program name.
  """
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  absl_logging.get_absl_handler().addFilter(_OwnInfoOnly())
