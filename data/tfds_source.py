"""The 'tfds' source: TFDS `cifar10`, read through TFDS's own builder and data-source code.

An already prepared dataset is read without TensorFlow: `builder.as_data_source()` (ArrayRecord
files, images decoded by Pillow). Only preparing it (download + conversion) needs TensorFlow;
it is then prepared in the array_record format. A dataset prepared earlier in the tfrecord
format only is read with `tfds.as_numpy(builder.as_dataset(...))`, which needs TensorFlow.

Offline, a TFDS download hangs for minutes, so before preparing, the download hosts are probed
with a short TCP connect; when none answers, `DataError` says how to use a local copy instead.
tensorflow_datasets is imported inside the functions, never at module import.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import socket
import threading
import time
import urllib.parse
import urllib.request

import ml_collections
import numpy as np

from data.arrays import CifarArrays
from data.config import CIFAR10_DIR_ENV
from data.constants import IMAGE_SHAPE
from data.errors import DataError
from data.source_registry import SOURCES

logger = logging.getLogger(__name__)

TFDS_NAME = "cifar10"
TFDS_SPLITS = ("train", "test")
# TFDS fetches cifar10 from its GCS mirror or, failing that, from the original site.
DOWNLOAD_HOSTS = (("storage.googleapis.com", 443), ("www.cs.toronto.edu", 443))
READ_CHUNK = 4096  # examples fetched from a data source at once

LOCAL_COPY_HINT = (
    "To use a local copy instead, set config.data.dir=/path/to/cifar10 (an image-folder tree "
    f"DIR/{{train,test}}/<class>/*.jpg, or the cifar-10-batches-py directory) or export "
    f"{CIFAR10_DIR_ENV}=/path/to/cifar10; or set config.data.tfds_data_dir to a TFDS data dir "
    "where cifar10 is already prepared.")


def _import_tfds():
  try:
    import tensorflow_datasets  # pylint: disable=import-outside-toplevel
  except ImportError as error:
    raise DataError(f"The 'tfds' data source needs tensorflow_datasets ({error}). "
                    + LOCAL_COPY_HINT) from error
  return tensorflow_datasets


def tensorflow_available() -> bool:
  """Whether TensorFlow can be imported (without importing it)."""
  return importlib.util.find_spec("tensorflow") is not None


def _connects(host: str, port: int, timeout_s: float) -> bool:
  try:
    with socket.create_connection((host, port), timeout=timeout_s):
      return True
  except OSError:
    return False


def probe_targets() -> tuple[tuple[str, int], ...]:
  """The (host, port) pairs a download would connect to: the HTTPS proxy if set, else the hosts."""
  proxy = urllib.request.getproxies().get("https")
  if proxy:
    parsed = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parsed.hostname:
      return ((parsed.hostname, parsed.port or 80),)
  return DOWNLOAD_HOSTS


def download_hosts_reachable(timeout_s: float) -> bool:
  """Whether any download target accepts a TCP connection within `timeout_s` seconds overall.

  Name resolution and connection run in daemon threads, so a hanging DNS lookup cannot hold the
  caller for longer than `timeout_s`.
  """
  reachable = threading.Event()

  def probe(host, port):
    if _connects(host, port, timeout_s):
      reachable.set()

  threads = [threading.Thread(target=probe, args=target, daemon=True) for target in probe_targets()]
  for thread in threads:
    thread.start()
  deadline = time.monotonic() + timeout_s
  while not reachable.is_set() and any(thread.is_alive() for thread in threads):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
      break
    reachable.wait(min(remaining, 0.05))
  return reachable.is_set()


def ensure_can_prepare(data_dir: str, timeout_s: float) -> None:
  """Raises `DataError` at once when cifar10 could not be downloaded and prepared here."""
  if not download_hosts_reachable(timeout_s):
    hosts = ", ".join(f"{host}:{port}" for host, port in probe_targets())
    raise DataError(f"TFDS cifar10 is not prepared in {data_dir}, and no download host ({hosts}) "
                    f"answered within {timeout_s:g} s: this machine looks offline. "
                    + LOCAL_COPY_HINT)
  if not tensorflow_available():
    raise DataError(f"TFDS cifar10 is not prepared in {data_dir}, and preparing it (download + "
                    "conversion) needs TensorFlow, which is not installed (pip install "
                    "tensorflow-cpu). " + LOCAL_COPY_HINT)


def _read_data_source(source, split: str) -> tuple[np.ndarray, np.ndarray]:
  """All examples of one random-access split as (uint8 (N, 32, 32, 3), int32 (N,))."""
  count = len(source)
  images = np.empty((count,) + IMAGE_SHAPE, np.uint8)
  labels = np.empty((count,), np.int32)
  for start in range(0, count, READ_CHUNK):
    keys = list(range(start, min(count, start + READ_CHUNK)))
    examples = (source.__getitems__(keys) if hasattr(source, "__getitems__")
                else [source[key] for key in keys])
    for offset, example in enumerate(examples):
      images[start + offset] = example["image"]
      labels[start + offset] = example["label"]
  logger.info("Read %d %s examples of TFDS %s", count, split, TFDS_NAME)
  return images, labels


def _read_with_tensorflow(tfds, builder) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  if not tensorflow_available():
    raise DataError(f"TFDS cifar10 in {builder.data_dir} is prepared in the "
                    f"{builder.info.file_format} format only, which needs TensorFlow to read "
                    "(pip install tensorflow-cpu). Without TensorFlow, re-prepare it in the "
                    "array_record format in another tfds_data_dir. " + LOCAL_COPY_HINT)
  splits = tfds.as_numpy(builder.as_dataset(split=list(TFDS_SPLITS), batch_size=-1,
                                            as_supervised=True))
  return {split: (np.asarray(images, np.uint8), np.asarray(labels, np.int32))
          for split, (images, labels) in zip(TFDS_SPLITS, splits)}


@SOURCES.register("tfds")
def load_tfds(data_config: ml_collections.ConfigDict) -> CifarArrays:
  """TFDS cifar10 from data_config.tfds_data_dir ('' = TFDS's default data dir)."""
  tfds = _import_tfds()
  data_dir = os.path.expanduser(data_config.tfds_data_dir) if data_config.tfds_data_dir else None
  builder = tfds.builder(TFDS_NAME, data_dir=data_dir)
  if not builder.is_prepared():
    ensure_can_prepare(builder.data_dir, data_config.tfds_probe_timeout_s)
    builder = tfds.builder(TFDS_NAME, data_dir=data_dir, file_format="array_record")
    logger.info("Downloading and preparing TFDS %s in %s", TFDS_NAME, builder.data_dir)
    builder.download_and_prepare()
  class_names = tuple(builder.info.features["label"].names)
  try:
    sources = builder.as_data_source(split=list(TFDS_SPLITS))
  except NotImplementedError:  # prepared as tfrecord only: no random access without TensorFlow
    splits = _read_with_tensorflow(tfds, builder)
  else:
    splits = {split: _read_data_source(source, split)
              for split, source in zip(TFDS_SPLITS, sources)}
  (train_images, train_labels), (test_images, test_labels) = (splits[s] for s in TFDS_SPLITS)
  return CifarArrays(train_images, train_labels, test_images, test_labels, class_names)
