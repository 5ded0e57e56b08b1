"""The 'auto' source: a local copy when one is named, else TFDS.

Rule: data_config.dir if set, else $CIFAR10_DIR if set; that directory is loaded by the source
its content calls for (an image-folder tree -> 'folder', python batches -> 'cifar_python';
neither -> DataError). With no directory named, 'tfds'.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import ml_collections

from data import cifar_python
from data import config as config_lib
from data import image_folder
from data.arrays import CifarArrays
from data.errors import DataError
from data.source_registry import SOURCES

logger = logging.getLogger(__name__)


def detect_local_source(directory: Path) -> str:
  """'folder' or 'cifar_python', from what `directory` holds; raises `DataError` otherwise."""
  directory = Path(directory)
  if not directory.is_dir():
    raise DataError(f"CIFAR-10 directory {directory} does not exist or is not a directory")
  if image_folder.is_image_tree(directory):
    return "folder"
  if cifar_python.batch_dir(directory) is not None:
    return "cifar_python"
  raise DataError(
      f"{directory} holds neither an image-folder tree (train/ and test/ folders of "
      f"<class>/*.png|jpg) nor CIFAR-10 python batches ({cifar_python.TRAIN_BATCHES[0]}, ..., "
      f"{cifar_python.TEST_BATCHES[0]}, possibly in {cifar_python.ARCHIVE_DIR_NAME}/)")


@SOURCES.register("auto")
def load_auto(data_config: ml_collections.ConfigDict) -> CifarArrays:
  """data_config.dir, else $CIFAR10_DIR, else TFDS (see the module docstring)."""
  directory = data_config.dir or os.environ.get(config_lib.CIFAR10_DIR_ENV, "")
  if not directory:
    logger.info("No data.dir or $%s: loading CIFAR-10 from TFDS", config_lib.CIFAR10_DIR_ENV)
    return SOURCES.get("tfds")(data_config)
  directory = Path(directory).expanduser()
  source = detect_local_source(directory)
  logger.info("Loading CIFAR-10 from %s with the %r source", directory, source)
  return SOURCES.get(source)(config_lib.with_dir(data_config, directory))
