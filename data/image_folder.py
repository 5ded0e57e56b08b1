"""The 'folder' source: an image-folder tree DIR/{train,test}/<class>/*.{png,jpg,jpeg}.

Class indices follow CIFAR-10's label order when the class folders are exactly CIFAR-10's
classes, else the sorted folder names. Within a split, examples are ordered class-interleaved
(the k-th image of every class before the (k+1)-th, files sorted by name), so any prefix of a
split (train_subset / test_subset) is class-balanced. Decoding is slow (about 60,000 files), so
the decoded arrays are cached as .npz (see data.npz_cache) in config.cache_dir.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from pathlib import Path

import ml_collections
import numpy as np
from PIL import Image

from data import config as config_lib
from data import npz_cache
from data.arrays import CifarArrays
from data.constants import CIFAR10_CLASSES, IMAGE_SHAPE
from data.errors import DataError
from data.source_registry import SOURCES

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")  # compared case-insensitively
# Log decoding progress about this many times over the whole tree.
PROGRESS_REPORTS = 10


@dataclasses.dataclass(frozen=True)
class ImageTree:
  """The files of an image-folder tree, in load order.

  Attributes:
    root: the tree's root directory.
    class_names: class i is class_names[i].
    files: split -> image paths in load order.
    labels: split -> int32 labels aligned with `files`.
    fingerprint: (number of image files, newest mtime in ns of any file or folder, a 63-bit hash
      of every file's path, size and mtime), for caching.
  """
  root: Path
  class_names: tuple[str, ...]
  files: dict[str, list[Path]]
  labels: dict[str, np.ndarray]
  fingerprint: tuple[int, int, int]


def is_image_tree(directory: Path) -> bool:
  """Whether `directory` looks like an image-folder tree (has train/ and test/ sub-folders)."""
  return all((Path(directory) / split).is_dir() for split in SPLITS)


def class_order(names: set[str]) -> tuple[str, ...]:
  """CIFAR-10's label order when `names` are exactly CIFAR-10's classes, else sorted."""
  return CIFAR10_CLASSES if names == set(CIFAR10_CLASSES) else tuple(sorted(names))


def _class_folders(split_dir: Path) -> dict[str, os.DirEntry]:
  if not split_dir.is_dir():
    raise DataError(f"Missing split folder {split_dir} (expected "
                    f"{split_dir.parent}/{{{','.join(SPLITS)}}}/<class>/*.png|jpg)")
  folders = {entry.name: entry for entry in os.scandir(split_dir)
             if entry.is_dir() and not entry.name.startswith(".")}
  if not folders:
    raise DataError(f"No class folders in {split_dir} (expected {split_dir}/<class>/*.png|jpg)")
  return folders


def _image_entries(class_dir: os.DirEntry) -> list[os.DirEntry]:
  entries = sorted((entry for entry in os.scandir(class_dir.path)
                    if entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file()),
                   key=lambda entry: entry.name)
  if not entries:
    raise DataError(f"Class folder {class_dir.path} holds no "
                    f"{'/'.join(IMAGE_EXTENSIONS)} images")
  return entries


def _interleave(per_class: list[list[Path]]) -> tuple[list[Path], np.ndarray]:
  """Orders files so each class appears in proportion along the list: by (rank + 1/2) / count."""
  keyed = [((rank + 0.5) / len(files), label, path)
           for label, files in enumerate(per_class) for rank, path in enumerate(files)]
  keyed.sort(key=lambda item: item[:2])
  return [item[2] for item in keyed], np.asarray([item[1] for item in keyed], np.int32)


def scan_image_tree(root: Path) -> ImageTree:
  """Lists and checks the tree under `root`; raises `DataError` for missing or empty folders."""
  root = Path(root)
  folders = {split: _class_folders(root / split) for split in SPLITS}
  if set(folders["train"]) != set(folders["test"]):
    raise DataError(f"Class folders differ between {root / 'train'} {sorted(folders['train'])} "
                    f"and {root / 'test'} {sorted(folders['test'])}")
  class_names = class_order(set(folders["train"]))
  newest_ns = max(os.stat(root / split).st_mtime_ns for split in SPLITS)
  count = 0
  digest = hashlib.sha256()
  files, labels = {}, {}
  for split in SPLITS:
    per_class = []
    for name in class_names:
      folder = folders[split][name]
      entries = _image_entries(folder)
      stats = [entry.stat() for entry in entries]
      newest_ns = max([newest_ns, folder.stat().st_mtime_ns] + [stat.st_mtime_ns for stat in stats])
      for entry, stat in zip(entries, stats):
        digest.update(f"{split}/{name}/{entry.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
      count += len(entries)
      per_class.append([Path(entry.path) for entry in entries])
    files[split], labels[split] = _interleave(per_class)
  file_hash = int.from_bytes(digest.digest()[:8], "little") >> 1  # fits in an int64
  return ImageTree(root, class_names, files, labels, (count, newest_ns, file_hash))


def decode_image(path: Path) -> np.ndarray:
  """Reads one image file as uint8 (32, 32, 3) RGB; raises `DataError` naming the file otherwise."""
  try:
    with Image.open(path) as image:
      image.load()
      mode, size = image.mode, image.size
      pixels = np.asarray(image) if mode == "RGB" else None
  except Exception as error:  # pylint: disable=broad-except  # any decoder failure names the file
    raise DataError(f"Cannot decode image {path}: {type(error).__name__}: {error}") from error
  if mode != "RGB":
    raise DataError(f"Image {path} has mode {mode!r}; expected RGB with "
                    f"{IMAGE_SHAPE[2]} channels")
  if pixels.shape != IMAGE_SHAPE:
    raise DataError(f"Image {path} is {size[0]}x{size[1]} pixels; expected "
                    f"{IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]}")
  return pixels


def decode_image_tree(tree: ImageTree) -> CifarArrays:
  """Decodes every file of `tree` (sequentially: on 2 cores a thread pool was slower and a
  process pool only ~1.3x faster, not worth forking a JAX process). Logs progress."""
  total = sum(len(files) for files in tree.files.values())
  report_every = max(1, total // PROGRESS_REPORTS)
  logger.info("Decoding %d images under %s (cached afterwards)", total, tree.root)
  start = time.perf_counter()
  done = 0
  images = {}
  for split in SPLITS:
    split_images = np.empty((len(tree.files[split]),) + IMAGE_SHAPE, np.uint8)
    for index, path in enumerate(tree.files[split]):
      split_images[index] = decode_image(path)
      done += 1
      if done % report_every == 0 or done == total:
        elapsed = time.perf_counter() - start
        logger.info("Decoded %d/%d images (%.0f%%) in %.1f s", done, total,
                    100.0 * done / total, elapsed)
    images[split] = split_images
  return CifarArrays(images["train"], tree.labels["train"], images["test"], tree.labels["test"],
                     tree.class_names)


@SOURCES.register("folder")
def load_image_folder(data_config: ml_collections.ConfigDict) -> CifarArrays:
  """Loads the tree at data_config.dir (or $CIFAR10_DIR), through the .npz cache."""
  root = config_lib.local_dir(data_config, "folder")
  tree = scan_image_tree(root)
  path = npz_cache.cache_path(config_lib.cache_dir(data_config), root, "folder")
  cached = npz_cache.read_cache(path, tree.fingerprint)
  if cached is not None and cached.class_names == tree.class_names:
    logger.info("Loaded decoded images of %s from cache %s", root, path)
    return cached
  arrays = decode_image_tree(tree)
  npz_cache.write_cache(path, arrays, tree.fingerprint)
  return arrays
