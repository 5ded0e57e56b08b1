"""Pixel normalisation applied after augmentation, right before the model."""
import jax.numpy as jnp

from data.constants import CIFAR10_MEAN, CIFAR10_STD


def normalize(images: jnp.ndarray) -> jnp.ndarray:
  """Maps pixel values to zero mean and unit variance per channel.

  Args:
    images: (..., 32, 32, 3) float pixel values in [0, 255] (uint8 is converted).

  Returns:
    float32 array of the same shape: (images - CIFAR10_MEAN) / CIFAR10_STD.
  """
  images = jnp.asarray(images, jnp.float32)
  mean = jnp.asarray(CIFAR10_MEAN, jnp.float32)
  std = jnp.asarray(CIFAR10_STD, jnp.float32)
  return (images - mean) / std
