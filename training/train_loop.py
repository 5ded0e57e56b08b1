"""`train(config, workdir)`: the training of a run, resumable from its workdir.

(The invariance evaluation that may follow is composed above training and evaluation, in
pipeline.train_then_evaluate.)

Order of work: build and validate everything that a config can get wrong (model, augmentation,
optimiser, mesh) before touching data; load CIFAR-10 once and keep it on the device as uint8;
restore the latest checkpoint if there is one; then loop over jitted train steps, syncing with
the device only to log, evaluate and checkpoint (the cadence hooks of training.hooks).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from common.errors import ConfigError
import augment
import models
from data import CifarArrays, load_cifar10
from data.constants import IMAGE_SHAPE
from runtime import (checkpointing, numerics, preemption, progress, resume_config,
                     run_files)
from runtime.accuracy import evaluate_accuracy, make_accuracy_fn
from runtime.mesh import (MeshShardings, check_divisible, make_data_parallel_mesh,
                          put_replicated)
from training import hooks
from training.divergence import TrainingDivergedError, check_state_finite
from training.optim import OPTIMIZERS, SCHEDULES, build_optimizer, check_lookahead_config
from training.state import TrainState
from training.steps import epoch_permutation, jit_train_step, make_train_step
from training.temperature import (build_temperature_schedule, check_temperature_config,
                                  temperature_config)

__all__ = ["TrainingDivergedError", "train"]

_INIT_STREAM = 0


def train(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains `config.model` on CIFAR-10 and tests its accuracy; resumes from `workdir` if possible.

  Writes `config.json`, `metrics.jsonl`, `checkpoints/` and `summary.json` into `workdir`.

  Returns:
    The summary dict (also written as summary.json).
  Raises:
    runtime.preemption.Preempted: SIGTERM (or a platform's preemption notice) arrived; the
      step after it was saved.
  """
  wall_start = time.perf_counter()
  # The checkpoint writer (orbax threads) and the metrics files are opened when needed and
  # closed on every exit path, so an error ends with its message, not with a thread's trace.
  with contextlib.ExitStack() as open_files:
    # From here SIGTERM saves the next train step and stops (runtime.preemption).
    notice = open_files.enter_context(preemption.watch())
    plan = _build_and_check(config, workdir)
    start = _restore_or_initialise(config, workdir, plan, open_files)
    metrics_log = _open_run_files(config, workdir, plan, start, open_files)
    device_data = _DeviceData.put(plan.data, plan.shardings)
    compiled = _compile(config, plan, start, device_data)
    step = int(start.state.step)
    _print_start(config, plan, start, compiled.seconds)
    reporter = progress.TrainProgress(plan.total_steps, step, plan.steps_per_epoch,
                                      enabled=plan.is_main)

    def test_accuracy(state: TrainState) -> float:
      return evaluate_accuracy(compiled.count_correct, state.variables,
                               device_data.test_images, device_data.test_labels)

    throughput = hooks.Throughput(step, config.train.batch_size)
    checkpoint = hooks.SaveCheckpoint(start.writer, config.train.checkpoint_every_steps,
                                      plan.total_steps, json.loads(config.to_json()),
                                      last_saved=start.restored_step)
    evaluation = hooks.EvaluateTestAccuracy(
        plan.steps_per_epoch * config.train.eval_every_epochs, plan.total_steps,
        test_accuracy, throughput)
    cadence = [
        hooks.LogTrainMetrics(config.train.log_every_steps, plan.total_steps, plan.schedule,
                              compiled.reset_metrics, throughput, checkpoint.check_finite),
        evaluation,
        hooks.ReportRecord(metrics_log, reporter, throughput, plan.steps_per_epoch,
                           plan.total_steps),
        checkpoint,
        hooks.SaveOnPreemption(notice, checkpoint, workdir),
    ]
    state, step = _loop(start.state, plan, compiled, reporter, cadence)
    reporter.close()
    start.writer.wait()
    check_state_finite(state, checkpoint.last_saved)
    final_test_accuracy = evaluation.last_accuracy
    if final_test_accuracy is None:  # the run had already finished: just report
      final_test_accuracy = test_accuracy(state)
    return _summarise(config, workdir, plan, start, step, final_test_accuracy, throughput,
                      wall_start)


# -- Build and check ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _RunPlan:
  """What the config builds, checked before any training state exists.

  Attributes:
    model: the flax module of config.model.
    augment_batch: the augmentation of config.augment (uint8 images in, float images out).
    shardings: the data-parallel mesh over every device of every host.
    is_main: whether this is process 0 (the one that writes the run's files and prints).
    data: CIFAR-10 on the host (uint8 images [N, 32, 32, 3], int labels [N]).
    steps_per_epoch: whole batches of config.train.batch_size in the training set.
    total_steps: train steps of the run (config.train.num_steps, or num_epochs epochs).
    tx: the optax optimiser.
    schedule: the learning rate of a step (0-based).
  """
  model: Any
  augment_batch: Callable[..., Any]
  shardings: MeshShardings
  is_main: bool
  data: CifarArrays
  steps_per_epoch: int
  total_steps: int
  tx: Any
  schedule: Callable[[int], Any]


def _build_and_check(config: ml_collections.ConfigDict, workdir: str) -> _RunPlan:
  """Builds everything a config can get wrong, refuses a resume that would change the run, then
  loads the data and sizes the run (creating `workdir`)."""
  train_cfg = config.train
  if train_cfg.get("deterministic_gpu_ops", False):  # before anything starts JAX's backends
    numerics.require_deterministic_gpu_ops()
  is_main = jax.process_index() == 0

  # Everything a config can get wrong fails here, before data or devices do any work.
  model = models.build_model(**config.model)
  augment_batch = augment.build_augment(config.augment)
  _validate_train_config(train_cfg)
  shardings = make_data_parallel_mesh()
  check_divisible(train_cfg.batch_size, shardings.num_devices, "config.train.batch_size")
  # (eval_batch_size need not divide: evaluation rounds it up to the devices and masks.)

  # A resume that would change the run is refused before any data are loaded.
  resume_config.allowed_changes(config)
  latest = checkpointing.read_latest_config(workdir)
  if latest is not None:
    _check_resume(workdir, config, latest[1], latest[0])

  os.makedirs(workdir, exist_ok=True)
  data = load_cifar10(config.data)
  steps_per_epoch, total_steps = _count_steps(config, data)
  tx, schedule = build_optimizer(train_cfg, total_steps, steps_per_epoch)
  return _RunPlan(model, augment_batch, shardings, is_main, data, steps_per_epoch, total_steps,
                  tx, schedule)


def _validate_train_config(train: ml_collections.ConfigDict) -> None:
  SCHEDULES.get(train.schedule)
  OPTIMIZERS.get(train.optimizer)
  for name in ("batch_size", "eval_batch_size", "log_every_steps", "checkpoint_every_steps",
               "keep_checkpoints", "eval_every_epochs"):
    if int(train[name]) < 1:
      raise ConfigError(f"config.train.{name} must be >= 1, got {train[name]}")
  if train.num_epochs <= 0 and train.num_steps <= 0:
    raise ConfigError("Set config.train.num_epochs or config.train.num_steps to a positive value.")
  check_temperature_config(temperature_config(train))
  check_lookahead_config(train)


def _count_steps(config: ml_collections.ConfigDict, data: CifarArrays) -> tuple[int, int]:
  """(steps_per_epoch, total_steps) of the run on `data`, after checking its labels fit."""
  train_cfg = config.train
  num_classes = int(config.model.num_classes)
  max_label = int(max(data.train_labels.max(), data.test_labels.max()))
  if max_label >= num_classes:
    raise ConfigError(f"The data has label {max_label} but config.model.num_classes is "
                      f"{num_classes}.")
  num_train = data.train_images.shape[0]
  steps_per_epoch = num_train // train_cfg.batch_size
  if steps_per_epoch == 0:
    raise ConfigError(f"config.train.batch_size={train_cfg.batch_size} is larger than the "
                      f"{num_train} training images.")
  total_steps = (int(train_cfg.num_steps) if train_cfg.num_steps > 0
                 else int(round(train_cfg.num_epochs * steps_per_epoch)))
  return steps_per_epoch, total_steps


def _check_resume(workdir: str, config: ml_collections.ConfigDict, item, step: int
                  ) -> resume_config.ConfigChanges:
  """Refuses (ConfigMismatchError) to resume from checkpoint `step`, whose saved config is
  `item` (None: a checkpoint without one, compared with config.json), if run-changing fields
  differ; returns the changes."""
  saved, source = resume_config.saved_config(workdir, item)
  return resume_config.check_resume(saved, config, step=step, source=source)


# -- Restore or initialise ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Start:
  """Where the run starts.

  Attributes:
    state: the train state, replicated on every device (restored, or freshly initialised).
    root_key: the run's PRNG key (from config.seed), replicated.
    writer: the checkpoint writer of the workdir (open until the run ends).
    restored_step: the step of the restored checkpoint; None for a fresh start.
    changes: the config changes that the resume allows (None for a fresh start).
    num_params: the model's parameter count.
  """
  state: TrainState
  root_key: jax.Array
  writer: checkpointing.CheckpointWriter
  restored_step: Optional[int]
  changes: Optional[resume_config.ConfigChanges]
  num_params: int


def _restore_or_initialise(config: ml_collections.ConfigDict, workdir: str, plan: _RunPlan,
                           open_files: contextlib.ExitStack) -> _Start:
  """Restores the latest checkpoint of `workdir` onto this mesh, or initialises the state."""
  # On every device (replicated), like the state: a key on one device would be copied to
  # the others at every step (the step's transfer guard refuses that).
  seed = int(config.seed)
  replicated = plan.shardings.replicated
  root_key = jax.jit(lambda: jax.random.key(seed), out_shardings=replicated)()
  init_key = jax.random.fold_in(root_key, _INIT_STREAM)

  def init_state(key):
    variables = plan.model.init(key, jnp.zeros((1, *IMAGE_SHAPE), jnp.float32), train=False)
    return TrainState.create(variables, plan.tx)

  writer = open_files.enter_context(
      checkpointing.CheckpointWriter(workdir, config.train.keep_checkpoints))
  resumed = {}

  def check_config(item, step):
    resumed["changes"] = _check_resume(workdir, config, item, step)

  # Restored onto this mesh whatever mesh saved it (an abstract target: nothing initialised).
  restored = writer.restore(jax.eval_shape(init_state, init_key), replicated, check_config)
  if restored is None:
    state, restored_step = jax.jit(init_state, out_shardings=replicated)(init_key), None
  else:
    state, restored_step = restored.state, restored.step
  changes = resumed["changes"] if restored is not None else None
  return _Start(state, root_key, writer, restored_step, changes,
                models.count_params(state.params))


def _open_run_files(config: ml_collections.ConfigDict, workdir: str, plan: _RunPlan,
                    start: _Start, open_files: contextlib.ExitStack) -> run_files.MetricsLog:
  """Opens metrics.jsonl (cut back to the restored step) and records the start in config.json:
  the config of a fresh run, or a resume entry, and where this session reads the data from
  (data_location.json); prints the changes a resume makes. Only the main process writes (the
  others get a log that writes nothing)."""
  metrics_log = open_files.enter_context(contextlib.closing(
      run_files.MetricsLog(workdir) if plan.is_main else run_files.NullMetricsLog()))
  if plan.is_main:
    metrics_log.truncate_after(start.restored_step or 0)
    if start.restored_step is None:
      run_files.write_config(workdir, config)
    else:
      run_files.append_resume(workdir, config, resume_config.resume_entry(
          start.restored_step, start.changes, num_devices=plan.shardings.num_devices))
    run_files.write_data_location(workdir, config.data)
  changed = (resume_config.describe(start.changes) if start.restored_step is not None
             else None)
  if changed:
    progress.print_progress(changed, plan.is_main)
  return metrics_log


# -- The loop -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _DeviceData:
  """The datasets on every device, as uint8 images [N, 32, 32, 3] and int32 labels [N]."""
  train_images: jax.Array
  train_labels: jax.Array
  test_images: jax.Array
  test_labels: jax.Array

  @classmethod
  def put(cls, data: CifarArrays, shardings: MeshShardings) -> "_DeviceData":
    """Copies `data` to the devices once (replicated)."""
    replicated = shardings.replicated
    return cls(put_replicated(data.train_images, replicated),
               put_replicated(data.train_labels.astype(np.int32), replicated),
               put_replicated(data.test_images, replicated),
               put_replicated(data.test_labels.astype(np.int32), replicated))


@dataclasses.dataclass(frozen=True)
class _Compiled:
  """The run's compiled programs.

  Attributes:
    permutation: epoch (int) -> the order of the training images in that epoch, [N] int32.
    train_step: (state, permutation) -> state after one step (all arguments on the devices).
    reset_metrics: state -> the state with its metric sums zeroed (donates its argument).
    count_correct: the accuracy counter of runtime.accuracy, for the test set.
    seconds: the wall time of compiling them.
  """
  permutation: Callable[[int], jax.Array]
  train_step: Callable[[TrainState, jax.Array], TrainState]
  reset_metrics: Callable[[TrainState], TrainState]
  count_correct: Callable[..., Any]
  seconds: float


def _compile(config: ml_collections.ConfigDict, plan: _RunPlan, start: _Start,
             device_data: _DeviceData) -> _Compiled:
  """Builds the train step of `config` and compiles it for `start.state` and the data."""
  train_cfg, shardings = config.train, plan.shardings
  num_train = plan.data.train_images.shape[0]
  step_fn = make_train_step(
      plan.model, plan.tx, plan.augment_batch, batch_size=train_cfg.batch_size,
      steps_per_epoch=plan.steps_per_epoch, num_classes=int(config.model.num_classes),
      label_smoothing=train_cfg.label_smoothing, batch_sharding=shardings.batch,
      temperature_schedule=(build_temperature_schedule(temperature_config(train_cfg),
                                                       plan.total_steps, plan.steps_per_epoch)
                            if models.uses_temperature(plan.model) else None))
  compile_start = time.perf_counter()
  permutation_fn = jax.jit(epoch_permutation, static_argnums=2,
                           out_shardings=shardings.replicated)
  first_permutation = permutation_fn(start.root_key, 0, num_train)
  data_args = (device_data.train_images, device_data.train_labels)
  train_step = jit_train_step(step_fn, shardings.replicated).lower(
      start.state, start.root_key, *data_args, first_permutation).compile()
  reset_metrics = jax.jit(TrainState.reset_metrics, donate_argnums=0,
                          out_shardings=shardings.replicated)
  count_correct = make_accuracy_fn(plan.model, batch_size=train_cfg.eval_batch_size,
                                   batch_sharding=shardings.batch,
                                   replicated=shardings.replicated)
  return _Compiled(
      permutation=lambda epoch: permutation_fn(start.root_key, epoch, num_train),
      train_step=lambda state, permutation: train_step(state, start.root_key, *data_args,
                                                       permutation),
      reset_metrics=reset_metrics, count_correct=count_correct,
      seconds=time.perf_counter() - compile_start)


def _print_start(config: ml_collections.ConfigDict, plan: _RunPlan, start: _Start,
                 compile_seconds: float) -> None:
  """Prints the run's one-line description (model, size, devices, data, steps, resume)."""
  progress.print_progress(
      f"{type(plan.model).__name__} ({config.model.name}), {start.num_params:,} parameters, "
      f"{plan.shardings.num_devices} device(s), {plan.data.train_images.shape[0]} train / "
      f"{plan.data.test_images.shape[0]} test images, {plan.total_steps} steps of "
      f"{config.train.batch_size}; "
      + (f"resumed from step {start.restored_step}; " if start.restored_step is not None else "")
      + f"compiled in {compile_seconds:.1f}s", plan.is_main)


def _loop(state: TrainState, plan: _RunPlan, compiled: _Compiled,
          reporter: progress.TrainProgress, cadence: list[hooks.Hook]) -> tuple[TrainState, int]:
  """Runs the train steps from `state.step` to `plan.total_steps`, calling every hook of
  `cadence` after each; returns the last state and its step."""
  step = int(state.step)
  while step < plan.total_steps:
    epoch = step // plan.steps_per_epoch
    permutation = compiled.permutation(epoch)
    epoch_end = min((epoch + 1) * plan.steps_per_epoch, plan.total_steps)
    while step < epoch_end:
      # Every argument is already on the device: a host transfer here is a bug (an argument
      # that became a host array, a Python number), and fails at once instead of slowing
      # every step (tests/test_accel.py).
      with jax.transfer_guard("disallow"):
        state = compiled.train_step(state, permutation)
      step += 1
      reporter.step()
      record = {}
      for hook in cadence:
        state = hook(step, state, record)
  return state, step


# -- The summary --------------------------------------------------------------------------------


def _summarise(config: ml_collections.ConfigDict, workdir: str, plan: _RunPlan, start: _Start,
               step: int, final_test_accuracy: float, throughput: hooks.Throughput,
               wall_start: float) -> dict[str, Any]:
  """The run's summary; written as summary.json and announced by the main process."""
  summary = {
      "final_test_accuracy": final_test_accuracy,
      "num_params": start.num_params,
      "model": config.model.name,
      "steps": step,
      "epochs": step / plan.steps_per_epoch,
      "resumed_from_step": start.restored_step,
      "num_devices": plan.shardings.num_devices,
      "train_images_per_sec": throughput.images_per_second(),
      "wall_time_sec": time.perf_counter() - wall_start,
  }
  previous = run_files.read_summary(workdir) if throughput.images_trained == 0 else None
  if previous is not None and previous.get("steps") == step:
    # Nothing trained now (the run had finished): keep the timing of the run that trained it.
    for key in ("train_images_per_sec", "wall_time_sec"):
      summary[key] = previous.get(key, summary[key])
  if plan.is_main:
    run_files.write_summary(workdir, summary)
    progress.print_progress(
        f"done: test accuracy {final_test_accuracy:.4f} after {step} steps, "
        f"{progress.format_duration(summary['wall_time_sec'])} wall time; results in {workdir}",
        plan.is_main)
  return summary
