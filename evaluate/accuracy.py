"""Top-1 accuracy of a model over an on-device image set, in fixed-size sharded batches."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from data.normalize import normalize


def make_predict_fn(model: nn.Module):
  """Returns `predict(variables, images) -> logits`.

  images: (B, 32, 32, 3) pixel values in [0, 255] (uint8 or float); logits: (B, C) float32.
  The model runs in inference mode (BatchNorm uses its running averages).
  """

  def predict(variables, images):
    return model.apply(variables, normalize(images), train=False).astype(jnp.float32)

  return predict


def make_accuracy_fn(model: nn.Module, *, batch_size: int, batch_sharding: jax.sharding.Sharding,
                     replicated: jax.sharding.Sharding):
  """Returns a jitted `count_correct(variables, images, labels, start) -> correct`.

  Counts correct top-1 predictions on rows [start, start + batch_size) of `images` (uint8
  (N, 32, 32, 3), on the device) and `labels` (int32 (N,)); rows past N are masked, so the
  last partial batch needs no padding on the host.
  """
  predict = make_predict_fn(model)

  def count_correct(variables, images, labels, start):
    rows = start + jnp.arange(batch_size)
    valid = rows < images.shape[0]
    rows = jax.lax.with_sharding_constraint(jnp.minimum(rows, images.shape[0] - 1), batch_sharding)
    logits = predict(variables, jnp.take(images, rows, axis=0))
    hits = (jnp.argmax(logits, -1) == jnp.take(labels, rows, axis=0)) & valid
    return jnp.sum(hits.astype(jnp.int32))

  return jax.jit(count_correct, out_shardings=replicated)


def evaluate_accuracy(count_correct, variables, images: jax.Array, labels: jax.Array,
                      batch_size: int) -> float:
  """Top-1 accuracy in [0, 1] over all N images; one host sync at the end."""
  num_images = images.shape[0]
  total = jnp.zeros((), jnp.int32)
  for start in range(0, num_images, batch_size):
    total = total + count_correct(variables, images, labels, start)
  return float(total) / num_images
