"""Sizing sweeps to a time budget on the devices at hand: a cost model of every member.

The cost of a member is estimated without compiling it: its train step and its model's
forward pass are lowered (traced to StableHLO, which takes a second or two) and XLA's cost
analysis of the lowered program gives their floating-point operations. One member is then
compiled and timed for a few steps on the devices (`calibrate`), which turns operations into
seconds for this machine; every other member's step time is its operations times that rate.
The rate of a train step is also used for the evaluation's forward passes (they are the
same kernels without the backward pass). Such a model ignores what operation counts miss
(memory-bound gathers, FFTs, kernel launches), so a plan records its estimates next to what
the members then took.

  costs = [member_cost(m.config, calibration) for m in members]
  epochs = epochs_for_budget(costs, budget_seconds, min_epochs=1, max_epochs=15)
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

import augment
import models
from data.constants import IMAGE_SHAPE
from evaluate.config import build_protocols, resolve_eval_config
from evaluate.grid import grid_size
from runtime.accuracy import make_predict_fn
from runtime.mesh import MeshShardings, make_data_parallel_mesh, put_replicated
from training.optim import build_optimizer
from training.state import TrainState
from training.steps import epoch_permutation, jit_train_step, make_train_step
from training.temperature import build_temperature_schedule, temperature_config

# Length of the schedule the cost model's steps assume (the cost does not depend on it).
_SCHEDULE_STEPS = 1000
# Batch of the forward pass whose cost is divided by its size (per model input).
_FORWARD_BATCH = 64
# Compile time of one evaluation program (a forward pass per protocol), as a fraction of the
# calibrated train step's (forward and backward): a guess, recorded next to what members took.
EVAL_COMPILE_FRACTION = 0.5
# Training images of the calibration's synthetic on-device set (the step's cost does not
# depend on the set's size: it gathers one batch).
_CALIBRATION_IMAGES = 4096


def _flops(lowered) -> float:
  """Floating-point operations of a lowered program (XLA's cost analysis; 0 if none)."""
  analysis = lowered.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older JAX: one dict per program
    analysis = analysis[0] if analysis else {}
  return float((analysis or {}).get("flops", 0.0))


def _train_step(config: ml_collections.ConfigDict, num_train: int, shardings: MeshShardings):
  """(jitted step, abstract state) of `config` with a training set of `num_train` images."""
  model = models.build_model(**config.model)
  train = config.train
  steps_per_epoch = max(num_train // int(train.batch_size), 1)
  tx, _ = build_optimizer(train, _SCHEDULE_STEPS, steps_per_epoch)
  temperature = (build_temperature_schedule(temperature_config(train), _SCHEDULE_STEPS)
                 if models.uses_temperature(model) else None)
  step = jit_train_step(make_train_step(
      model, tx, augment.build_augment(config.augment), batch_size=int(train.batch_size),
      steps_per_epoch=steps_per_epoch, num_classes=int(config.model.num_classes),
      label_smoothing=float(train.label_smoothing), batch_sharding=shardings.batch,
      temperature_schedule=temperature), shardings.replicated)

  def init(key):
    variables = model.init(key, jnp.zeros((1, *IMAGE_SHAPE), jnp.float32), train=False)
    return TrainState.create(variables, tx)

  return step, init


def _abstract_args(num_train: int, shardings: MeshShardings):
  replicated = shardings.replicated
  return (jax.eval_shape(lambda: jax.random.key(0)),
          jax.ShapeDtypeStruct((num_train, *IMAGE_SHAPE), jnp.uint8, sharding=replicated),
          jax.ShapeDtypeStruct((num_train,), jnp.int32, sharding=replicated),
          jax.ShapeDtypeStruct((num_train,), jnp.int32, sharding=replicated))


def train_step_flops(config: ml_collections.ConfigDict, num_train: int,
                     shardings: MeshShardings | None = None) -> float:
  """Operations of one train step of `config` (lowered, not compiled)."""
  shardings = shardings or make_data_parallel_mesh()
  step, init = _train_step(config, num_train, shardings)
  state = jax.eval_shape(init, jax.random.key(0))
  return _flops(step.lower(state, *_abstract_args(num_train, shardings)))


def forward_flops(config: ml_collections.ConfigDict) -> float:
  """Operations of one inference forward pass of `config`'s model, per model input."""
  model = models.build_model(**config.model)
  inputs = jax.ShapeDtypeStruct((_FORWARD_BATCH, *IMAGE_SHAPE), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), inputs)
  return _flops(jax.jit(make_predict_fn(model)).lower(variables, inputs)) / _FORWARD_BATCH


# Forward-pass equivalents of one step of a gradient attack (forward and backward).
_GRADIENT_STEP_PASSES = 3


def _forward_passes(protocol) -> int:
  """Forward passes per image of one protocol: its grid points (grid engine), or for the
  shift attack its grid phase plus forward and backward at every visited point."""
  if getattr(protocol, "kind", "grid") == "attack":
    gradient_points = protocol.num_visited - protocol.num_grid_points
    return protocol.num_grid_points + _GRADIENT_STEP_PASSES * gradient_points
  return grid_size(protocol)


def evaluation_inputs(config: ml_collections.ConfigDict, num_test: int = 10000) -> int:
  """Forward passes (image x grid point) of `config.eval`'s protocols, plus the clean pass."""
  eval_config = resolve_eval_config(config)
  images = int(eval_config.num_images) or num_test
  passes = sum(_forward_passes(protocol)
               for protocol in build_protocols(eval_config.protocols).values())
  return images * (passes + 1)


@dataclasses.dataclass(frozen=True)
class Calibration:
  """seconds_per_flop: measured seconds of a train step per operation of it;
  compile_seconds: what compiling that step took (a member's fixed cost, per compile);
  step_seconds: the measured step; device: the devices it ran on."""
  seconds_per_flop: float
  compile_seconds: float
  step_seconds: float
  device: str


def calibrate(config: ml_collections.ConfigDict, steps: int = 10,
              shardings: MeshShardings | None = None) -> Calibration:
  """Compiles `config`'s train step on synthetic on-device data and times `steps` steps."""
  shardings = shardings or make_data_parallel_mesh()
  num_train = max(_CALIBRATION_IMAGES, int(config.train.batch_size))
  step, init = _train_step(config, num_train, shardings)
  state = jax.jit(init, out_shardings=shardings.replicated)(jax.random.key(0))
  rng = np.random.default_rng(0)
  images = put_replicated(rng.integers(0, 256, (num_train, *IMAGE_SHAPE), np.uint8),
                          shardings.replicated)
  labels = put_replicated(rng.integers(0, 10, (num_train,), np.int32), shardings.replicated)
  root_key = jax.jit(lambda: jax.random.key(0), out_shardings=shardings.replicated)()
  permutation = jax.jit(epoch_permutation, static_argnums=2,
                        out_shardings=shardings.replicated)(root_key, 0, num_train)
  args = (root_key, images, labels, permutation)
  start = time.perf_counter()
  lowered = step.lower(state, *args)
  compiled = lowered.compile()
  compile_seconds = time.perf_counter() - start
  state = jax.block_until_ready(compiled(state, *args))  # warm-up
  start = time.perf_counter()
  for _ in range(steps):
    state = compiled(state, *args)
  jax.block_until_ready(state)
  step_seconds = (time.perf_counter() - start) / steps
  flops = _flops(lowered)
  device = f"{jax.device_count()} x {jax.devices()[0].device_kind}"
  return Calibration(seconds_per_flop=step_seconds / max(flops, 1.0),
                     compile_seconds=compile_seconds, step_seconds=step_seconds, device=device)


@dataclasses.dataclass(frozen=True)
class MemberCost:
  """Estimated seconds of one member: `step_seconds` per train step (`steps_per_epoch` of
  them per epoch), `eval_seconds` for its whole evaluation, `fixed_seconds` for compiling
  its train step and its evaluation programs."""
  steps_per_epoch: int
  step_seconds: float
  eval_seconds: float
  fixed_seconds: float

  def seconds(self, epochs: float) -> float:
    return epochs * self.steps_per_epoch * self.step_seconds + self.eval_seconds + self.fixed_seconds


def member_cost(config: ml_collections.ConfigDict, calibration: Calibration, num_train: int,
                evaluate: bool = True) -> MemberCost:
  """The cost model's estimate for a member of run config `config`."""
  steps_per_epoch = num_train // int(config.train.batch_size)
  step = train_step_flops(config, num_train) * calibration.seconds_per_flop
  eval_seconds = 0.0
  compiles = 1.0
  if evaluate:
    eval_seconds = (evaluation_inputs(config) * forward_flops(config)
                    * calibration.seconds_per_flop)
    compiles += EVAL_COMPILE_FRACTION * len(resolve_eval_config(config).protocols)
  return MemberCost(steps_per_epoch, step, eval_seconds, compiles * calibration.compile_seconds)


def epochs_for_budget(costs: Sequence[MemberCost], budget_seconds: float, *,
                      min_epochs: float, max_epochs: float, resolution: float = 0.5,
                      fill: float = 1.0) -> float:
  """The most epochs (a multiple of `resolution`, at most max_epochs) for which every member
  (each trained that long: the comparison stays fair) fits `fill` x `budget_seconds` in all.

  Raises:
    ValueError: not even min_epochs fit; the message gives the budget that would.
  """
  usable = budget_seconds * fill
  fixed = sum(cost.eval_seconds + cost.fixed_seconds for cost in costs)
  per_epoch = sum(cost.steps_per_epoch * cost.step_seconds for cost in costs)
  epochs = (usable - fixed) / per_epoch if per_epoch > 0 else max_epochs
  epochs = min(math.floor(epochs / resolution) * resolution, max_epochs)
  if epochs < min_epochs:
    needed = fixed + min_epochs * per_epoch
    raise ValueError(
        f"the budget of {budget_seconds / 60:.1f} minutes is too small: by the cost model, "
        f"{min_epochs:g} epoch(s) of every member need about {needed / 60:.1f} minutes "
        f"({fixed / 60:.1f} of them for evaluation and compiling), i.e. a budget of at "
        f"least {needed / fill / 60:.1f} minutes (plans fill {fill:.0%} of it).")
  return epochs
