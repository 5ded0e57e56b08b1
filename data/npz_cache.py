"""A cache of decoded `CifarArrays` as an uncompressed .npz file, keyed by the source directory.

The cache file records a fingerprint of the source tree (file count, newest mtime, hash of
every file's path, size and mtime). It is reused only when that fingerprint still matches and
the cache file is at least as new as every source file. It is written through
common.atomic_files (a temporary file renamed into place), so a crash never leaves a
half-written cache; a cache that cannot be read is ignored (and later rewritten).
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from common.atomic_files import atomic_write
from data.arrays import CifarArrays

logger = logging.getLogger(__name__)

# Bump when the layout or ordering of cached arrays changes, so old caches are not reused.
CACHE_FORMAT_VERSION = 1


def cache_path(cache_dir: Path, source_dir: Path, kind: str) -> Path:
  """The cache file for `source_dir`: <cache_dir>/<kind>-<dir name>-<hash of absolute path>.npz."""
  absolute = os.path.abspath(os.path.realpath(source_dir))
  digest = hashlib.sha256(f"{kind}\0{absolute}\0{CACHE_FORMAT_VERSION}".encode()).hexdigest()[:16]
  return Path(cache_dir) / f"{kind}-{Path(absolute).name or 'root'}-{digest}.npz"


def read_cache(path: Path, fingerprint: tuple[int, ...]) -> CifarArrays | None:
  """The cached arrays, or None if the cache is missing, stale or unreadable.

  Args:
    path: the cache file.
    fingerprint: integers describing the source tree now; fingerprint[1] is the newest source
      mtime in ns.
  """
  if not path.is_file():
    return None
  try:
    if path.stat().st_mtime_ns < fingerprint[1]:
      logger.info("Cache %s is older than its source files; rebuilding it", path)
      return None
    with np.load(path, allow_pickle=False) as npz:
      if tuple(int(v) for v in npz["fingerprint"]) != tuple(fingerprint):
        logger.info("Cache %s does not match its source tree any more; rebuilding it", path)
        return None
      return CifarArrays(
          train_images=npz["train_images"], train_labels=npz["train_labels"],
          test_images=npz["test_images"], test_labels=npz["test_labels"],
          class_names=tuple(str(name) for name in npz["class_names"]))
  except Exception as error:  # pylint: disable=broad-except  # any unreadable cache is rebuilt
    logger.warning("Ignoring unreadable cache %s (%s: %s); rebuilding it",
                   path, type(error).__name__, error)
    return None


def write_cache(path: Path, arrays: CifarArrays, fingerprint: tuple[int, ...]) -> None:
  """Writes `arrays` atomically to `path`; a failure to write only logs a warning."""
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as f:
      np.savez(f,
               train_images=arrays.train_images, train_labels=arrays.train_labels,
               test_images=arrays.test_images, test_labels=arrays.test_labels,
               class_names=np.asarray(arrays.class_names, dtype=str),
               fingerprint=np.asarray(fingerprint, dtype=np.int64))
    logger.info("Cached decoded arrays in %s", path)
  except OSError as error:
    logger.warning("Could not write cache %s (%s); continuing without it", path, error)
