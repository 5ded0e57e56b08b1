"""The 'cifar_python' source: the official `cifar-10-batches-py` directory.

data_batch_1..5 and test_batch are pickled dicts with b'data' (N, 3072) uint8 (1024 red, then
1024 green, then 1024 blue values, rows top to bottom) and b'labels' (N ints); batches.meta
holds b'label_names'. The pickles are read with an unpickler that only builds plain containers
and NumPy arrays, so a tampered file cannot run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import ml_collections
import numpy as np

from data import config as config_lib
from data.arrays import CifarArrays
from data.constants import CIFAR10_CLASSES, IMAGE_SHAPE
from data.errors import DataError
from data.source_registry import SOURCES

TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_BATCHES = ("test_batch",)
META_FILE = "batches.meta"
# The name of the directory inside the official archive; accepted as a child of data.dir too.
ARCHIVE_DIR_NAME = "cifar-10-batches-py"

# (module, name) pairs a CIFAR batch pickle may reference: NumPy's array reconstruction only.
_ALLOWED_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
     ("numpy._core.numeric", "_frombuffer"), ("copy_reg", "_reconstructor"),
     ("copyreg", "_reconstructor"),
     ("_codecs", "encode")}  # protocol-2 pickles written by Python 3 build bytes with it


class _ArrayUnpickler(pickle.Unpickler):
  """Unpickles plain data and NumPy arrays; refuses every other global."""

  def find_class(self, module, name):
    if (module, name) not in _ALLOWED_GLOBALS:
      raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
    return super().find_class(module, name)


def batch_dir(directory: Path) -> Path | None:
  """`directory` or its `cifar-10-batches-py` child, whichever holds data_batch_1; else None."""
  for candidate in (Path(directory), Path(directory) / ARCHIVE_DIR_NAME):
    if (candidate / TRAIN_BATCHES[0]).is_file():
      return candidate
  return None


def _unpickle(path: Path) -> dict:
  if not path.is_file():
    raise DataError(f"Missing CIFAR-10 python batch file {path}")
  try:
    with open(path, "rb") as file:
      content = _ArrayUnpickler(file, encoding="bytes").load()
  except Exception as error:  # pylint: disable=broad-except  # any failure names the file
    raise DataError(f"Cannot read CIFAR-10 python batch {path}: "
                    f"{type(error).__name__}: {error}") from error
  if not isinstance(content, dict):
    raise DataError(f"{path} holds a {type(content).__name__}, expected a dict")
  return content


def read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
  """One batch file as (uint8 (N, 32, 32, 3) images, int32 (N,) labels); checks the contents."""
  content = _unpickle(path)
  if b"data" not in content or b"labels" not in content:
    raise DataError(f"{path} lacks b'data' or b'labels' (keys: {sorted(content)})")
  height, width, channels = IMAGE_SHAPE
  data = np.asarray(content[b"data"])
  if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != height * width * channels:
    raise DataError(f"{path}: b'data' is {data.dtype}{data.shape}, "
                    f"expected uint8 (N, {height * width * channels})")
  labels = np.asarray(content[b"labels"])
  if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
    raise DataError(f"{path}: b'labels' is {labels.dtype}{labels.shape}, "
                    f"expected {data.shape[0]} integers")
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise DataError(f"{path}: labels span [{labels.min()}, {labels.max()}], outside "
                    f"[0, {num_classes - 1}]")
  images = data.reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(images), labels.astype(np.int32)


def read_class_names(directory: Path) -> tuple[str, ...]:
  """Label names from batches.meta, or CIFAR-10's own when the file is absent."""
  path = directory / META_FILE
  if not path.exists():
    return CIFAR10_CLASSES
  content = _unpickle(path)
  if b"label_names" not in content:
    raise DataError(f"{path} lacks b'label_names' (keys: {sorted(content)})")
  return tuple(name.decode() if isinstance(name, bytes) else str(name)
               for name in content[b"label_names"])


@SOURCES.register("cifar_python")
def load_cifar_python(data_config: ml_collections.ConfigDict) -> CifarArrays:
  """Loads data_config.dir (or $CIFAR10_DIR), or its cifar-10-batches-py child."""
  directory = config_lib.local_dir(data_config, "cifar_python")
  found = batch_dir(directory)
  if found is None:
    raise DataError(f"Missing CIFAR-10 python batch file {directory / TRAIN_BATCHES[0]} "
                    f"(expected the {ARCHIVE_DIR_NAME} directory: "
                    f"{', '.join(TRAIN_BATCHES + TEST_BATCHES)}, {META_FILE})")
  class_names = read_class_names(found)

  def read_split(names):
    batches = [read_batch(found / name, len(class_names)) for name in names]
    return (np.concatenate([images for images, _ in batches]),
            np.concatenate([labels for _, labels in batches]))

  train_images, train_labels = read_split(TRAIN_BATCHES)
  test_images, test_labels = read_split(TEST_BATCHES)
  return CifarArrays(train_images, train_labels, test_images, test_labels, class_names)
