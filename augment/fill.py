"""Fill colours for pixels an augmentation has to invent (padding, background, shifted-in).

'black' is pixel value 0; 'mean' is CIFAR10_MEAN, the colour normalisation maps to 0.
"""
from __future__ import annotations

from typing import Union

import jax.numpy as jnp
import numpy as np

from common.registry import Registry
from data.constants import CIFAR10_MEAN

FILLS = Registry("fill colour")

FillSpec = Union[str, float, np.ndarray, jnp.ndarray]


@FILLS.register("black")
def black(channels: int) -> np.ndarray:
  """Pixel value 0 in every channel."""
  return np.zeros((channels,), np.float32)


@FILLS.register("mean")
def dataset_mean(channels: int) -> np.ndarray:
  """CIFAR10_MEAN (pixel units); needs 3 channels."""
  if channels != len(CIFAR10_MEAN):
    raise ValueError(f"'mean' fill needs {len(CIFAR10_MEAN)} channels, got {channels}")
  return np.asarray(CIFAR10_MEAN, np.float32)


def fill_color(fill: FillSpec, channels: int, dtype=jnp.float32) -> jnp.ndarray:
  """The fill colour as a (channels,) array of pixel values.

  Args:
    fill: a name registered in FILLS ('black', 'mean'), or a scalar / (channels,) array of
      pixel values.
    channels: number of image channels C.
    dtype: dtype of the result (the image dtype).
  """
  if isinstance(fill, str):
    fill = FILLS.get(fill)(channels)
  return jnp.broadcast_to(jnp.asarray(fill, dtype), (channels,))
