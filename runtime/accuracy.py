"""Top-1 accuracy of a model over an image set, in fixed-size batches sharded over the devices.

Evaluation batches work for any number of images and any number of devices: the batch is
rounded UP to a multiple of the device count (`eval_batch_for_devices`), and rows past the
last image are masked (never counted), so the last partial batch needs no host padding and
the result does not depend on the device count. (Training batches are different: a
training batch that does not divide over the devices is a configuration error.)
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from data.normalize import normalize
from runtime.hosts import fetch


def make_predict_fn(model: nn.Module):
  """Returns `predict(variables, images) -> logits`.

  images: (B, 32, 32, 3) pixel values in [0, 255] (uint8 or float); logits: (B, C) float32.
  The model runs in inference mode (BatchNorm uses its running averages).
  """

  def predict(variables, images):
    return model.apply(variables, normalize(images), train=False).astype(jnp.float32)

  return predict


def eval_batch_for_devices(batch_size: int, num_devices: int) -> int:
  """`batch_size` rounded up to a multiple of `num_devices` (>= num_devices).

  E.g. 500 on 8 devices -> 504: every device gets 63 rows; the rows past the data are masked.
  """
  if batch_size < 1 or num_devices < 1:
    raise ValueError(f"batch_size and num_devices must be >= 1, got {batch_size}, {num_devices}")
  return -(-batch_size // num_devices) * num_devices


def make_correct_fn(predict, *, batch_size: int, batch_sharding: jax.sharding.Sharding,
                    replicated: jax.sharding.Sharding):
  """Returns a jitted `correct(variables, images, labels, start) -> hits`.

  hits: (batch_size,) bool, top-1 == label on rows [start, start + batch_size) of `images`
  ((N, 32, 32, 3) pixel values, on the device) and `labels` (int32 (N,)); rows past N are
  masked to False. batch_size must be a multiple of the devices of `batch_sharding` (use
  eval_batch_for_devices); the batch is sharded over them, the result replicated.
  """

  def correct(variables, images, labels, start):
    rows = start + jnp.arange(batch_size)
    valid = rows < images.shape[0]
    rows = jax.lax.with_sharding_constraint(jnp.minimum(rows, images.shape[0] - 1), batch_sharding)
    logits = predict(variables, jnp.take(images, rows, axis=0))
    return (jnp.argmax(logits, -1) == jnp.take(labels, rows, axis=0)) & valid

  return jax.jit(correct, out_shardings=replicated)


@dataclasses.dataclass(frozen=True)
class AccuracyFn:
  """`count_correct(variables, images, labels, start) -> correct` (jitted) and its batch.

  batch_size: rows per call, a multiple of the devices; evaluate_accuracy steps by it.
  """
  count_correct: Callable
  batch_size: int

  def __call__(self, variables, images, labels, start):
    return self.count_correct(variables, images, labels, start)


def make_accuracy_fn(model: nn.Module, *, batch_size: int, batch_sharding: jax.sharding.Sharding,
                     replicated: jax.sharding.Sharding) -> AccuracyFn:
  """Returns an AccuracyFn: `count_correct(variables, images, labels, start) -> correct`.

  Counts correct top-1 predictions on rows [start, start + B) of `images` (uint8
  (N, 32, 32, 3), on the device) and `labels` (int32 (N,)), with B = batch_size rounded up
  to a multiple of the devices of `batch_sharding` (eval_batch_for_devices; AccuracyFn.
  batch_size); rows past N are masked, so any N works on any device count and the last
  partial batch needs no padding on the host.
  """
  rounded = eval_batch_for_devices(batch_size, batch_sharding.mesh.size)
  correct = make_correct_fn(make_predict_fn(model), batch_size=rounded,
                            batch_sharding=batch_sharding, replicated=replicated)

  def count_correct(variables, images, labels, start):
    return jnp.sum(correct(variables, images, labels, start).astype(jnp.int32))

  return AccuracyFn(jax.jit(count_correct, out_shardings=replicated), rounded)


def evaluate_accuracy(count_correct: AccuracyFn, variables, images: jax.Array,
                      labels: jax.Array) -> float:
  """Top-1 accuracy in [0, 1] over all N images; one host sync at the end."""
  num_images = images.shape[0]
  total = jnp.zeros((), jnp.int32)
  for start in range(0, num_images, count_correct.batch_size):
    total = total + count_correct(variables, images, labels, start)
  return float(total) / num_images


def per_image_correct(correct, variables, images, labels, batch_size: int) -> np.ndarray:
  """(N,) bool top-1 == label for every image, with `correct` from make_correct_fn (built
  with this batch_size, a multiple of the devices)."""
  num_images = images.shape[0]
  hits = [correct(variables, images, labels, start) for start in range(0, num_images, batch_size)]
  return np.concatenate([fetch(h) for h in hits])[:num_images]
