"""The data section of the run config: `default_data_config()` and its completion."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import ml_collections

from common.errors import ConfigError
from data.errors import DataError

# Environment variable naming a local CIFAR-10 copy; read by the 'auto' source when data.dir is ''.
CIFAR10_DIR_ENV = "CIFAR10_DIR"
# Sub-directory of $XDG_CACHE_HOME (or ~/.cache) holding decoded-array caches by default.
CACHE_SUBDIR = "cifar_translation_invariance"


def default_data_config() -> ml_collections.ConfigDict:
  """The `config.data` section with every field at its default."""
  config = ml_collections.ConfigDict()
  # Which registered data source loads CIFAR-10: auto | tfds | folder | cifar_python | synthetic.
  # 'auto': `dir` if set, else $CIFAR10_DIR if set (an image-folder tree or cifar-10-batches-py,
  # recognised by content), else 'tfds'.
  config.source = "auto"
  # Local copy for 'folder' / 'cifar_python' / 'auto': DIR/{train,test}/<class>/*.{png,jpg,jpeg}
  # or the official cifar-10-batches-py directory (or its parent). '' = $CIFAR10_DIR.
  config.dir = ""
  # Where 'folder' caches its decoded arrays as .npz. '' = $XDG_CACHE_HOME/<project> or
  # ~/.cache/<project> (see CACHE_SUBDIR). The source directory itself may be read-only.
  config.cache_dir = ""
  # TFDS data_dir for 'tfds'. '' = TFDS's default ($TFDS_DATA_DIR or ~/tensorflow_datasets).
  config.tfds_data_dir = ""
  # Seconds to wait for the TFDS download hosts before declaring the machine offline.
  config.tfds_probe_timeout_s = 3.0
  # Keep only the first N train / test examples after loading (0 = all). Folder trees are
  # ordered class-interleaved, so a prefix is class-balanced; other sources keep their order.
  config.train_subset = 0
  config.test_subset = 0
  # Sizes and seed of the generated 'synthetic' dataset (class-coloured oriented stripes + noise).
  config.synthetic_train_size = 1000
  config.synthetic_test_size = 500
  config.synthetic_seed = 0
  return config


def complete_data_config(data_config: Mapping[str, Any] | ml_collections.ConfigDict
                         ) -> ml_collections.ConfigDict:
  """Returns a new ConfigDict: the defaults overridden by `data_config`.

  Raises:
    ValueError: `data_config` has a field the defaults do not know (likely a typo).
  """
  if isinstance(data_config, ml_collections.FrozenConfigDict):
    data_config = data_config.as_configdict()
  if isinstance(data_config, ml_collections.ConfigDict):
    given = data_config.to_dict()
  else:
    given = dict(data_config)
  given = {key: os.fspath(value) if isinstance(value, os.PathLike) else value
           for key, value in given.items()}
  config = default_data_config()
  unknown = sorted(set(given) - set(config.keys()))
  if unknown:
    raise ConfigError(f"Unknown data config field(s) {unknown}. "
                      f"Valid fields: {sorted(config.keys())}")
  config.update(given)
  return config


def with_dir(data_config: ml_collections.ConfigDict, directory: str | os.PathLike
             ) -> ml_collections.ConfigDict:
  """A copy of `data_config` with `dir` set to `directory`."""
  config = ml_collections.ConfigDict(data_config.to_dict())
  config.dir = os.fspath(directory)
  return config


def default_cache_dir() -> Path:
  """$XDG_CACHE_HOME/CACHE_SUBDIR, or ~/.cache/CACHE_SUBDIR when XDG_CACHE_HOME is unset."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return Path(base) / CACHE_SUBDIR


def cache_dir(data_config: ml_collections.ConfigDict) -> Path:
  """The configured cache directory, or `default_cache_dir()`."""
  return Path(data_config.cache_dir).expanduser() if data_config.cache_dir else default_cache_dir()


# Sources that read a local directory (data.dir, else $CIFAR10_DIR).
LOCAL_SOURCES = ("auto", "folder", "cifar_python")


def resolved_local_dir(data_config: ml_collections.ConfigDict | Mapping[str, Any],
                       environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
  """The absolute path of the local CIFAR-10 copy `data_config` reads (its `dir`, else
  $CIFAR10_DIR in `environ`, default os.environ, made absolute against the current
  directory); None when it reads none (TFDS, synthetic, or 'auto' with neither set)."""
  environ = os.environ if environ is None else environ
  if data_config.get("source", "auto") not in LOCAL_SOURCES:
    return None
  directory = data_config.get("dir", "") or environ.get(CIFAR10_DIR_ENV, "")
  return os.path.abspath(os.path.expanduser(directory)) if directory else None


def local_dir(data_config: ml_collections.ConfigDict, source_name: str) -> Path:
  """`data_config.dir`, else $CIFAR10_DIR; `DataError` when neither is set or it is missing."""
  directory = data_config.dir or os.environ.get(CIFAR10_DIR_ENV, "")
  if not directory:
    raise DataError(f"The {source_name!r} data source needs a directory: set config.data.dir=... "
                    f"or the {CIFAR10_DIR_ENV} environment variable")
  path = Path(directory).expanduser()
  if not path.is_dir():
    raise DataError(f"CIFAR-10 directory {path} does not exist or is not a directory")
  return path
