"""Optimisers and learning-rate schedules, looked up by name from `config.train`.

All schedules are functions of the optimiser step (an int) returning the learning rate.
Any optimiser can be wrapped in Lookahead (Zhang et al. 2019) by `config.train.lookahead`.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from common.errors import ConfigError
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


class LookaheadState(NamedTuple):
  """inner: the wrapped optimiser's state; slow: the slow weights (a copy of the params
  tree); count: int32 scalar, optimiser steps taken."""
  inner: optax.OptState
  slow: optax.Params
  count: jax.Array


def lookahead(inner: optax.GradientTransformation, sync_period: int, slow_step_size: float,
              total_steps: int) -> optax.GradientTransformation:
  """Lookahead (Zhang et al. 2019) around `inner`, as one optax transformation.

  The params are the fast weights, updated by `inner` at every step. Every `sync_period`
  steps, and at step `total_steps` (so that a run ends on the slow weights), the slow
  weights move towards the fast ones, slow += slow_step_size * (fast - slow), and the fast
  weights are reset to them. The params tree is unchanged (no LookaheadParams), so the
  model, its checkpoints' params and its evaluation need nothing new.
  """
  if sync_period < 1 or not 0.0 < slow_step_size <= 1.0:
    raise ConfigError(f"lookahead needs sync_period >= 1 and 0 < slow_step_size <= 1, got "
                      f"{sync_period} and {slow_step_size}")

  def init(params):
    return LookaheadState(inner.init(params), jax.tree.map(jnp.copy, params),
                          jnp.zeros((), jnp.int32))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("lookahead needs the params in update()")
    updates, inner_state = inner.update(updates, state.inner, params)
    fast = optax.apply_updates(params, updates)
    count = state.count + 1
    sync = (count % sync_period == 0) | (count == total_steps)
    slow = jax.tree.map(lambda s, f: jnp.where(sync, s + slow_step_size * (f - s), s),
                        state.slow, fast)
    new_params = jax.tree.map(lambda s, f: jnp.where(sync, s, f), slow, fast)
    updates = jax.tree.map(lambda n, p: (n - p).astype(p.dtype), new_params, params)
    return updates, LookaheadState(inner_state, slow, count)

  return optax.GradientTransformation(init, update)


def check_lookahead_config(train: ml_collections.ConfigDict) -> None:
  """Raises ValueError for an impossible config.train.lookahead (before any data loads)."""
  settings = train.get("lookahead")
  if settings is None:
    return
  if int(settings.sync_period) < 0:
    raise ConfigError(f"config.train.lookahead.sync_period must be >= 0 (0 = off), got "
                      f"{settings.sync_period}")
  if int(settings.sync_period) > 0 and not 0.0 < float(settings.slow_step_size) <= 1.0:
    raise ConfigError(f"config.train.lookahead.slow_step_size must be in (0, 1], got "
                      f"{settings.slow_step_size}")


def build_optimizer(train: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int):
  """Builds the optimiser and its schedule from `config.train`.

  Returns:
    (tx, schedule): an optax GradientTransformation and the learning-rate function of step.
  """
  warmup_steps = int(round(train.warmup_epochs * steps_per_epoch))
  schedule = SCHEDULES.get(train.schedule)(train.learning_rate, total_steps, warmup_steps)
  tx = OPTIMIZERS.get(train.optimizer)(schedule, train)
  check_lookahead_config(train)
  settings = train.get("lookahead")
  if settings is not None and int(settings.sync_period) > 0:
    tx = lookahead(tx, int(settings.sync_period), float(settings.slow_step_size), total_steps)
  return tx, schedule
