"""The 'synthetic' source: a small generated, learnable CIFAR-10 stand-in for tests and smoke runs.

Class c is a pattern of stripes at orientation c * 180/10 degrees, in a class-specific colour,
at a random phase (so shifting an image does not change its class), plus Gaussian pixel noise.
Both the colour (visible in the class mean) and the orientation identify the class. Everything
is a deterministic function of the config's sizes and seed.
"""
from __future__ import annotations

import colorsys

import ml_collections
import numpy as np

from data.arrays import CifarArrays
from data.constants import CIFAR10_CLASSES, IMAGE_SHAPE
from data.source_registry import SOURCES

STRIPE_PERIOD_PX = 6.0  # wavelength of the stripes in pixels
STRIPE_CONTRAST = 0.35  # stripe amplitude as a fraction of the 0..255 range
NOISE_STD = 0.08  # per-pixel Gaussian noise as a fraction of the 0..255 range


def class_colours(num_classes: int) -> np.ndarray:
  """(num_classes, 3) RGB colours in [0, 1] with evenly spaced hues."""
  return np.asarray([colorsys.hsv_to_rgb(c / num_classes, 0.6, 0.75) for c in range(num_classes)])


GENERATION_CHUNK = 2048  # images generated at once (bounds float64 scratch memory)


def generate_split(labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
  """uint8 (N, 32, 32, 3) images for int labels (N,)."""
  chunks = [_generate_chunk(labels[start:start + GENERATION_CHUNK], num_classes, rng)
            for start in range(0, len(labels), GENERATION_CHUNK)]
  return np.concatenate(chunks) if chunks else np.empty((0,) + IMAGE_SHAPE, np.uint8)


def _generate_chunk(labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
  height, width, _ = IMAGE_SHAPE
  rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  angles = np.pi * labels / num_classes  # (N,)
  phases = rng.uniform(0.0, 2.0 * np.pi, size=labels.shape)
  along = (cols[None] * np.cos(angles)[:, None, None] + rows[None] * np.sin(angles)[:, None, None])
  stripes = np.sin(2.0 * np.pi * along / STRIPE_PERIOD_PX + phases[:, None, None])  # (N, H, W)
  colours = class_colours(num_classes)[labels]  # (N, 3)
  images = colours[:, None, None, :] + STRIPE_CONTRAST * stripes[..., None]
  images += rng.normal(0.0, NOISE_STD, size=images.shape)
  return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)


def balanced_labels(count: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
  """int32 (count,) labels, each class count // num_classes or one more times, shuffled."""
  return rng.permutation(np.arange(count) % num_classes).astype(np.int32)


@SOURCES.register("synthetic")
def load_synthetic(data_config: ml_collections.ConfigDict) -> CifarArrays:
  """synthetic_train_size / synthetic_test_size images from seed synthetic_seed."""
  rng = np.random.default_rng(data_config.synthetic_seed)
  num_classes = len(CIFAR10_CLASSES)
  train_labels = balanced_labels(data_config.synthetic_train_size, num_classes, rng)
  test_labels = balanced_labels(data_config.synthetic_test_size, num_classes, rng)
  return CifarArrays(generate_split(train_labels, num_classes, rng), train_labels,
                     generate_split(test_labels, num_classes, rng), test_labels, CIFAR10_CLASSES)
