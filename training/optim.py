"""Optimisers and learning-rate schedules, looked up by name from `config.train`.

All schedules are functions of the optimiser step (an int) returning the learning rate.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from common.registry import Registry

SCHEDULES: Registry = Registry("learning-rate schedule")
OPTIMIZERS: Registry = Registry("optimizer")


@SCHEDULES.register("cosine")
def cosine_schedule(peak: float, total_steps: int, warmup_steps: int) -> optax.Schedule:
  """Linear warm-up from 0 to `peak` over `warmup_steps`, then cosine decay to 0."""
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=peak, warmup_steps=warmup_steps,
      decay_steps=max(total_steps, warmup_steps + 1), end_value=0.0)


@SCHEDULES.register("onecycle")
def onecycle_schedule(peak: float, total_steps: int, warmup_steps: int) -> optax.Schedule:
  """Piecewise-linear one-cycle: 0 -> `peak` over `warmup_steps`, then linearly to 0."""
  decay_steps = max(total_steps - warmup_steps, 1)
  return optax.join_schedules(
      [optax.linear_schedule(0.0, peak, max(warmup_steps, 1)),
       optax.linear_schedule(peak, 0.0, decay_steps)],
      boundaries=[max(warmup_steps, 1)])


@SCHEDULES.register("constant")
def constant_schedule(peak: float, total_steps: int, warmup_steps: int) -> optax.Schedule:
  """Linear warm-up to `peak`, then constant."""
  del total_steps
  if warmup_steps <= 0:
    return optax.constant_schedule(peak)
  return optax.join_schedules(
      [optax.linear_schedule(0.0, peak, warmup_steps), optax.constant_schedule(peak)],
      boundaries=[warmup_steps])


def _decay_mask(params):
  """Weight decay applies to kernels (ndim > 1), not to biases or normalisation scales."""
  return jax.tree.map(lambda p: jnp.ndim(p) > 1, params)


@OPTIMIZERS.register("sgd")
def sgd(schedule: optax.Schedule, train: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """SGD with (Nesterov) momentum and decoupled-from-schedule L2 weight decay on kernels."""
  return optax.chain(
      optax.add_decayed_weights(train.weight_decay, mask=_decay_mask),
      optax.sgd(schedule, momentum=train.momentum or None, nesterov=train.nesterov))


@OPTIMIZERS.register("adamw")
def adamw(schedule: optax.Schedule, train: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """AdamW with decoupled weight decay on kernels."""
  return optax.adamw(schedule, weight_decay=train.weight_decay, mask=_decay_mask)


def build_optimizer(train: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int):
  """Builds the optimiser and its schedule from `config.train`.

  Returns:
    (tx, schedule): an optax GradientTransformation and the learning-rate function of step.
  """
  warmup_steps = int(round(train.warmup_epochs * steps_per_epoch))
  schedule = SCHEDULES.get(train.schedule)(train.learning_rate, total_steps, warmup_steps)
  tx = OPTIMIZERS.get(train.optimizer)(schedule, train)
  return tx, schedule
