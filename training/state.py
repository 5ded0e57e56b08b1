"""The train state: everything a checkpoint holds, as one pytree."""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from runtime.variables import model_variables


@flax.struct.dataclass
class TrainState:
  """Model variables, optimiser state and running metrics, all device arrays.

  Attributes:
    step: int32 scalar, number of optimiser steps taken.
    params: the model's 'params' collection.
    batch_stats: the model's 'batch_stats' collection ({} for models without BatchNorm).
    opt_state: optax state.
    bad_step: int32 scalar, the first step whose loss or gradients were not finite, or -1.
      Once set, updates stop, so the state stays the last finite one.
    loss_sum, correct_sum, count: float32 scalars, running sums since the last log, so the
      host reads metrics only when it logs (no per-step device sync).
  """
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: optax.OptState
  bad_step: jax.Array
  loss_sum: jax.Array
  correct_sum: jax.Array
  count: jax.Array

  @classmethod
  def create(cls, variables, tx: optax.GradientTransformation) -> "TrainState":
    params = variables["params"]
    return cls(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        bad_step=jnp.full((), -1, jnp.int32),
        loss_sum=jnp.zeros((), jnp.float32),
        correct_sum=jnp.zeros((), jnp.float32),
        count=jnp.zeros((), jnp.float32),
    )

  @property
  def variables(self) -> dict:
    """The variables dict that `model.apply` takes."""
    return model_variables(self.params, self.batch_stats)

  def reset_metrics(self) -> "TrainState":
    zero = jnp.zeros((), jnp.float32)
    return self.replace(loss_sum=zero, correct_sum=zero, count=zero)
