"""What the train-step benchmarks share: synthetic on-device data, the full jitted train step
of a model, and timing of blocks of steps in wall time and in process CPU time.

No flags here: benchmarks/train_step_overhead.py and benchmarks/sweep_step_cost.py define them.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

import models
from configs import default as default_config
from data.constants import IMAGE_SHAPE
from runtime.mesh import MeshShardings, put_replicated
from training.optim import build_optimizer
from training.state import TrainState
from training.steps import epoch_permutation, jit_train_step, make_train_step, make_update_fn
from training.temperature import build_temperature_schedule, temperature_config

NUM_SYNTHETIC_TRAIN = 10_000  # Size of the synthetic on-device training set.
_OPTIMIZER_STEPS = 1000  # Length of the run the optimiser's (and LPS temperature's) schedule assumes.


@dataclasses.dataclass(frozen=True)
class StepTime:
  """Seconds per step of one timed block.

  wall_s: elapsed (perf_counter) time; cpu_s: CPU time of this process, all its threads
  (time.process_time). On a machine shared with other jobs, cpu_s grows much less than wall_s
  when the process waits for a core, so ratios of cpu_s are the steadier measure of work.
  """
  wall_s: float
  cpu_s: float


def time_block(fn: Callable, state: Any, args: tuple, steps: int) -> tuple[Any, StepTime]:
  """Runs `state = fn(state, *args)` once untimed, then `steps` times timed.

  Returns the final state and the time per step.
  """
  state = fn(state, *args)  # not timed: make sure nothing is pending
  jax.block_until_ready(state)
  wall, cpu = time.perf_counter(), time.process_time()
  for _ in range(steps):
    state = fn(state, *args)
  jax.block_until_ready(state)
  return state, StepTime(wall_s=(time.perf_counter() - wall) / steps,
                         cpu_s=(time.process_time() - cpu) / steps)


@dataclasses.dataclass
class Timed:
  """One implementation under test: `run(steps)` takes that many train steps and waits."""
  params: int
  run: Callable[[int], None]


def time_run(impl: Timed, steps: int) -> StepTime:
  """Seconds per step of one block of `steps` calls of impl.run, wall and process CPU time."""
  wall, cpu = time.perf_counter(), time.process_time()
  impl.run(steps)
  return StepTime(wall_s=(time.perf_counter() - wall) / steps,
                  cpu_s=(time.process_time() - cpu) / steps)


def timed_jax_step(module: nn.Module, batch: int, num_classes: int = 10) -> Timed:
  """The project's update function (forward, cross-entropy, backward, SGD + Nesterov with the
  default config's optimiser) around `module`, on one fixed random batch (batch, 32, 32, 3).
  Compiled (and run once) here, so `run` times steady-state steps only."""
  tx, _ = build_optimizer(default_config.get_config().train, total_steps=_OPTIMIZER_STEPS, steps_per_epoch=100)
  rng = np.random.default_rng(0)
  inputs = jnp.asarray(rng.standard_normal((batch, *IMAGE_SHAPE)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, num_classes, (batch,)), jnp.int32)
  variables = module.init(jax.random.key(0), inputs[:1], train=False)
  state = TrainState.create(variables, tx)
  update = jax.jit(make_update_fn(module, tx, num_classes=num_classes, label_smoothing=0.0),
                   donate_argnums=0)
  holder = {"state": jax.block_until_ready(update(state, inputs, labels))}  # compile

  def run(steps: int) -> None:
    state = holder["state"]
    for _ in range(steps):
      state = update(state, inputs, labels)
    holder["state"] = jax.block_until_ready(state)

  return Timed(models.count_params(variables["params"]), run)


def median_step_time(times: list[StepTime]) -> StepTime:
  """Median wall and median CPU time per step over blocks (each median taken separately)."""
  return StepTime(wall_s=float(np.median([t.wall_s for t in times])),
                  cpu_s=float(np.median([t.cpu_s for t in times])))


def synthetic_training_set(shardings: MeshShardings,
                           num_examples: int = NUM_SYNTHETIC_TRAIN) -> tuple[jax.Array, jax.Array]:
  """Random uint8 images (N, 32, 32, 3) and int32 labels (N,), replicated on the devices.

  (A train step's cost does not depend on pixel values.)
  """
  rng = np.random.default_rng(0)
  images = put_replicated(rng.integers(0, 256, (num_examples, *IMAGE_SHAPE), np.uint8),
                          shardings.replicated)
  labels = put_replicated(rng.integers(0, 10, (num_examples,), np.int32), shardings.replicated)
  return images, labels


@dataclasses.dataclass(frozen=True)
class FullStep:
  """A jitted train step and what it is called with.

  step: (state, *args) -> state, jitted, donating the state.
  state: a fresh replicated TrainState (donated to `step`: keep the state it returns).
  args: (root_key, images, labels, permutation).
  tx: the optimiser (for other update functions of the same state).
  """
  step: Callable
  state: TrainState
  args: tuple
  tx: optax.GradientTransformation


def build_full_step(model: nn.Module, augment_batch: Callable,
                    train_cfg: ml_collections.ConfigDict, images: jax.Array, labels: jax.Array,
                    shardings: MeshShardings) -> FullStep:
  """The jitted train step of training/train_loop.py for `model`, and what it is called with.

  Batch gather from the on-device uint8 set by the epoch permutation, per-example
  augmentation (including the model's loss for loss-driven policies such as worst_of_k),
  normalisation, forward, backward, update; the LPS temperature schedule of
  `train_cfg.lps_temperature` when the model needs one (models.uses_temperature).

  Returns:
    A FullStep: `state = step(state, *args)` runs one train step.
  """
  num_train = images.shape[0]
  batch = int(train_cfg.batch_size)
  steps_per_epoch = num_train // batch
  tx, _ = build_optimizer(train_cfg, total_steps=_OPTIMIZER_STEPS,
                          steps_per_epoch=steps_per_epoch)
  root_key = jax.jit(lambda: jax.random.key(0), out_shardings=shardings.replicated)()

  def init(key):
    variables = model.init(key, jnp.zeros((1, *IMAGE_SHAPE)), train=False)
    return TrainState.create(variables, tx)

  state = jax.jit(init, out_shardings=shardings.replicated)(root_key)
  temperature_schedule = (
      build_temperature_schedule(temperature_config(train_cfg), _OPTIMIZER_STEPS)
      if models.uses_temperature(model) else None)
  step = jit_train_step(make_train_step(model, tx, augment_batch, batch_size=batch,
                                       steps_per_epoch=steps_per_epoch, num_classes=10,
                                       label_smoothing=0.0, batch_sharding=shardings.batch,
                                       temperature_schedule=temperature_schedule),
                        shardings.replicated)
  permutation = jax.jit(epoch_permutation, static_argnums=2)(root_key, 0, num_train)
  return FullStep(step=step, state=state, args=(root_key, images, labels, permutation), tx=tx)
