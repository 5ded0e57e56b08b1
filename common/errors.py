"""`UserError`: the base of the project's own errors, those a user causes and fixes (a bad
config, an unknown name, missing data, a refused resume, a workdir in use).

The commands (train.py, sweep.py, python -m evaluate, python -m evaluate.layers) print a
UserError as one line, `error: <message>`, and exit with status 1; every other exception (a
bug, or an error in a researcher's own model or protocol) keeps its traceback. A subclass may
also derive from the built-in type it used to be (`class UnknownNameError(UserError,
ValueError)`), so that code catching that type keeps working.
"""


class UserError(Exception):
  """An error the user can fix from its message alone: printed as one line, no traceback."""


class ConfigError(UserError, ValueError):
  """A config (run, eval, layers or sweep config, or a command-line override) is invalid; the
  message names the field."""


class MissingFileError(UserError, FileNotFoundError):
  """A file the command needs is not there (no checkpoint, not a training run); the message
  names it and says what to pass."""
