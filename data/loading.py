"""`load_cifar10`: the one entry point the trainer calls."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import ml_collections

from data.arrays import CifarArrays, take_first, validate_arrays
from data.config import complete_data_config
from data.source_registry import SOURCES

logger = logging.getLogger(__name__)


def load_cifar10(data_config: ml_collections.ConfigDict | Mapping[str, Any]) -> CifarArrays:
  """Loads CIFAR-10 (or a stand-in) from the source `data_config.source` names.

  Args:
    data_config: the `config.data` section (see data.config.default_data_config); fields left
      out take their defaults, unknown fields are an error.

  Returns:
    `CifarArrays` on the host: uint8 (N, 32, 32, 3) images and int32 (N,) labels per split,
    then cut to the first train_subset / test_subset examples when those are > 0.

  Raises:
    DataError: the data is missing, unreadable or malformed (the message names the file/dir).
    UnknownNameError: `source` is not a registered data source.
  """
  config = complete_data_config(data_config)
  load_source = SOURCES.get(config.source)
  arrays = load_source(config)
  validate_arrays(arrays, f"data source {config.source!r}")
  arrays = take_first(arrays, config.train_subset, config.test_subset)
  logger.info("CIFAR-10 from %r: %d train, %d test images, %d classes", config.source,
              len(arrays.train_labels), len(arrays.test_labels), arrays.num_classes)
  return arrays
