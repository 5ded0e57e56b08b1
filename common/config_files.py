"""`load_config_file('configs/x.py[:arg]')`: a config file's get_config(), without flags.

For notebooks and scripts; the command-line tools load the same files with
ml_collections.config_flags (the ':arg' syntax is the same).
"""
from __future__ import annotations

import importlib.util
import os

import ml_collections

from common.errors import ConfigError


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """Runs `get_config()` (or `get_config(arg)` for 'path:arg') of the file at `spec`'s path.

  Raises:
    FileNotFoundError: no such file. ValueError: the file has no get_config().
  """
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"No config file {path!r} (relative paths are from "
                            f"{os.getcwd()!r}).")
  module_spec = importlib.util.spec_from_file_location(
      "_config_" + os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"{path} has no get_config() function.")
  return module.get_config(arg) if arg else module.get_config()
