"""The model's loss of candidate images, for augmentation that chooses by loss (worst_of_k).

`make_candidate_loss_fn` gives augment.pipeline's CandidateLossFn for one train step:
loss_fn(candidates (B, K, H, W, C) float pixel values in [0, 255]) -> (B, K) float32
softmax cross-entropy (with the run's label smoothing) of candidate k of example b against
label b, under the step's current parameters.

BatchNorm runs in inference mode (its running averages), as in Engstrom et al.'s code (the
robustness library puts the model in eval mode while it searches for the worst transform):
each candidate's loss then depends on that candidate alone, not on the other candidates in the
(B * K) batch, and the batch statistics are not updated by these passes. Early in training
the running averages lag the weights, so the ranking of candidates is noisier there. No
gradient flows through it (stop_gradient on the variables; worst_of_k also stops the
candidates and the losses).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from data.normalize import normalize
from runtime.variables import model_variables
from training.state import TrainState


def make_candidate_loss_fn(model: nn.Module, state: TrainState, labels: jax.Array, *,
                           num_classes: int, label_smoothing: float):
  """Returns loss_fn(candidates (B, K, H, W, C)) -> (B, K); labels: int32 (B,)."""
  variables = jax.lax.stop_gradient(model_variables(state.params, state.batch_stats))

  def loss_fn(candidates: jax.Array) -> jax.Array:
    batch, count = candidates.shape[:2]
    inputs = normalize(candidates.reshape(batch * count, *candidates.shape[2:]))
    logits = model.apply(variables, inputs, train=False)
    targets = optax.smooth_labels(jax.nn.one_hot(jnp.repeat(labels, count), num_classes),
                                  label_smoothing)
    losses = optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)
    return losses.reshape(batch, count)

  return loss_fn
