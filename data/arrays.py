"""`CifarArrays`, the in-memory dataset every source returns, and its validation."""
from __future__ import annotations

import dataclasses

import numpy as np

from data.constants import IMAGE_SHAPE
from data.errors import DataError


@dataclasses.dataclass(frozen=True)
class CifarArrays:
  """A CIFAR-10-like dataset held as NumPy arrays on the host.

  Attributes:
    train_images: uint8 (N_train, 32, 32, 3) RGB pixel values in [0, 255].
    train_labels: int32 (N_train,) class indices into `class_names`.
    test_images: uint8 (N_test, 32, 32, 3).
    test_labels: int32 (N_test,).
    class_names: the name of class i is class_names[i].
  """
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  class_names: tuple[str, ...]

  @property
  def num_classes(self) -> int:
    return len(self.class_names)


def validate_arrays(arrays: CifarArrays, origin: str) -> None:
  """Raises `DataError` unless shapes, dtypes and label ranges are those `CifarArrays` promises.

  Args:
    arrays: the dataset to check.
    origin: where it came from (a path or source name), quoted in the error message.
  """
  if not arrays.class_names:
    raise DataError(f"{origin}: no class names")
  for split in ("train", "test"):
    images = getattr(arrays, f"{split}_images")
    labels = getattr(arrays, f"{split}_labels")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
      raise DataError(f"{origin}: {split} images are {images.dtype}{images.shape}, "
                      f"expected uint8 (N, {', '.join(map(str, IMAGE_SHAPE))})")
    if labels.dtype != np.int32 or labels.shape != images.shape[:1]:
      raise DataError(f"{origin}: {split} labels are {labels.dtype}{labels.shape}, "
                      f"expected int32 ({images.shape[0]},)")
    if images.shape[0] == 0:
      raise DataError(f"{origin}: the {split} split is empty")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= arrays.num_classes:
      raise DataError(f"{origin}: {split} labels span [{low}, {high}], outside "
                      f"[0, {arrays.num_classes - 1}] for {arrays.num_classes} classes")


def take_first(arrays: CifarArrays, train_count: int, test_count: int) -> CifarArrays:
  """Keeps the first `train_count` train and `test_count` test examples (0 keeps all).

  Raises `DataError` when a count exceeds the examples available.
  """
  def first(images, labels, count, split):
    if count <= 0:
      return images, labels
    if count > images.shape[0]:
      raise DataError(f"{split}_subset={count} exceeds the {images.shape[0]} {split} examples")
    return images[:count], labels[:count]

  train_images, train_labels = first(arrays.train_images, arrays.train_labels, train_count, "train")
  test_images, test_labels = first(arrays.test_images, arrays.test_labels, test_count, "test")
  return CifarArrays(train_images, train_labels, test_images, test_labels, arrays.class_names)
