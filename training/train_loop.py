"""`train(config, workdir)`: the training of a run, resumable from its workdir.

(The invariance evaluation that may follow is composed above training and evaluation, in
pipeline.train_then_evaluate.)

Order of work: build and validate everything that a config can get wrong (model, augmentation,
optimiser, mesh) before touching data; load CIFAR-10 once and keep it on the device as uint8;
restore the latest checkpoint if there is one; then loop over jitted train steps, syncing with
the device only to log, evaluate and checkpoint.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

import augment
import models
from data import load_cifar10
from data.constants import IMAGE_SHAPE
from runtime import checkpointing, numerics, progress, resume_config, run_files
from runtime.accuracy import evaluate_accuracy, make_accuracy_fn
from runtime.mesh import check_divisible, make_data_parallel_mesh, put_replicated
from training.optim import OPTIMIZERS, SCHEDULES, build_optimizer, check_lookahead_config
from training.state import TrainState
from training.steps import epoch_permutation, jit_train_step, make_train_step
from training.temperature import (build_temperature_schedule, check_temperature_config,
                                  temperature_config)

_INIT_STREAM = 0


class TrainingDivergedError(RuntimeError):
  """The loss or the gradients became NaN or infinite."""


@dataclasses.dataclass
class _Timer:
  """Wall time spent in train steps since the last log, excluding evaluation."""
  start: float
  excluded: float = 0.0

  def elapsed(self) -> float:
    return time.perf_counter() - self.start - self.excluded


def _validate_train_config(train: ml_collections.ConfigDict) -> None:
  SCHEDULES.get(train.schedule)
  OPTIMIZERS.get(train.optimizer)
  for name in ("batch_size", "eval_batch_size", "log_every_steps", "checkpoint_every_steps",
               "keep_checkpoints", "eval_every_epochs"):
    if int(train[name]) < 1:
      raise ValueError(f"config.train.{name} must be >= 1, got {train[name]}")
  if train.num_epochs <= 0 and train.num_steps <= 0:
    raise ValueError("Set config.train.num_epochs or config.train.num_steps to a positive value.")
  check_temperature_config(temperature_config(train))
  check_lookahead_config(train)


def _check_state_finite(state: TrainState, last_saved: int | None) -> None:
  bad_step = int(state.bad_step)
  if bad_step >= 0:
    saved = (f"the last checkpoint (step {last_saved}) is intact" if last_saved is not None
             else "no checkpoint was written")
    raise TrainingDivergedError(
        f"Training diverged: the loss or gradients became NaN/inf at step {bad_step}. The run "
        f"stopped without saving the bad state; {saved}. Try a lower config.train.learning_rate, "
        "a longer warm-up, or label smoothing.")


def _check_resume(workdir: str, config: ml_collections.ConfigDict, item, step: int
                  ) -> resume_config.ConfigChanges:
  """Refuses (ConfigMismatchError) to resume from checkpoint `step`, whose saved config is
  `item` (None: a checkpoint without one, compared with config.json), if run-changing fields
  differ; returns the changes."""
  saved, source = resume_config.saved_config(workdir, item)
  return resume_config.check_resume(saved, config, step=step, source=source)


def train(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains `config.model` on CIFAR-10 and tests its accuracy; resumes from `workdir` if possible.

  Writes `config.json`, `metrics.jsonl`, `checkpoints/` and `summary.json` into `workdir`.

  Returns:
    The summary dict (also written as summary.json).
  """
  # The checkpoint writer (orbax threads) and the metrics files are opened when needed and
  # closed on every exit path, so an error ends with its message, not with a thread's trace.
  with contextlib.ExitStack() as open_files:
    return _train(config, workdir, open_files)


def _train(config: ml_collections.ConfigDict, workdir: str,
           open_files: contextlib.ExitStack) -> dict[str, Any]:
  wall_start = time.perf_counter()
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
  num_classes = int(config.model.num_classes)
  max_label = int(max(data.train_labels.max(), data.test_labels.max()))
  if max_label >= num_classes:
    raise ValueError(f"The data has label {max_label} but config.model.num_classes is "
                     f"{num_classes}.")
  num_train = data.train_images.shape[0]
  steps_per_epoch = num_train // train_cfg.batch_size
  if steps_per_epoch == 0:
    raise ValueError(f"config.train.batch_size={train_cfg.batch_size} is larger than the "
                     f"{num_train} training images.")
  total_steps = (int(train_cfg.num_steps) if train_cfg.num_steps > 0
                 else int(round(train_cfg.num_epochs * steps_per_epoch)))
  tx, schedule = build_optimizer(train_cfg, total_steps, steps_per_epoch)

  # Train state, replicated on every device; restored if the workdir has a checkpoint.
  # On every device (replicated), like the state: a key on one device would be copied to
  # the others at every step (the step's transfer guard refuses that).
  seed = int(config.seed)
  root_key = jax.jit(lambda: jax.random.key(seed), out_shardings=shardings.replicated)()
  init_key = jax.random.fold_in(root_key, _INIT_STREAM)

  def init_state(key):
    variables = model.init(key, jnp.zeros((1, *IMAGE_SHAPE), jnp.float32), train=False)
    return TrainState.create(variables, tx)

  writer = open_files.enter_context(
      checkpointing.CheckpointWriter(workdir, train_cfg.keep_checkpoints))
  resumed = {}

  def check_config(item, step):
    resumed["changes"] = _check_resume(workdir, config, item, step)

  # Restored onto this mesh whatever mesh saved it (an abstract target: nothing initialised).
  restored = writer.restore(jax.eval_shape(init_state, init_key), shardings.replicated,
                            check_config)
  if restored is None:
    state, restored_step = jax.jit(init_state, out_shardings=shardings.replicated)(init_key), None
  else:
    state, restored_step = restored.state, restored.step
  num_params = models.count_params(state.params)
  last_saved = restored_step
  saved_config = json.loads(config.to_json())  # saved with every checkpoint

  metrics_log = open_files.enter_context(contextlib.closing(
      run_files.MetricsLog(workdir) if is_main else run_files.NullMetricsLog()))
  if is_main:
    metrics_log.truncate_after(restored_step or 0)
    if restored is None:
      run_files.write_config(workdir, config)
    else:
      run_files.append_resume(workdir, config, resume_config.resume_entry(
          restored.step, resumed["changes"], num_devices=shardings.num_devices))
  changed = resume_config.describe(resumed["changes"]) if restored is not None else None
  if changed:
    progress.print_progress(changed, is_main)

  # The datasets go to the device once, as uint8.
  train_images = put_replicated(data.train_images, shardings.replicated)
  train_labels = put_replicated(data.train_labels.astype(np.int32), shardings.replicated)
  test_images = put_replicated(data.test_images, shardings.replicated)
  test_labels = put_replicated(data.test_labels.astype(np.int32), shardings.replicated)

  step_fn = make_train_step(
      model, tx, augment_batch, batch_size=train_cfg.batch_size,
      steps_per_epoch=steps_per_epoch, num_classes=num_classes,
      label_smoothing=train_cfg.label_smoothing, batch_sharding=shardings.batch,
      temperature_schedule=(build_temperature_schedule(temperature_config(train_cfg),
                                                       total_steps, steps_per_epoch)
                            if models.uses_temperature(model) else None))
  compile_start = time.perf_counter()
  permutation_fn = jax.jit(epoch_permutation, static_argnums=2,
                           out_shardings=shardings.replicated)
  first_permutation = permutation_fn(root_key, 0, num_train)
  train_step = jit_train_step(step_fn, shardings.replicated).lower(
      state, root_key, train_images, train_labels, first_permutation).compile()
  reset_metrics = jax.jit(TrainState.reset_metrics, donate_argnums=0,
                          out_shardings=shardings.replicated)
  count_correct = make_accuracy_fn(model, batch_size=train_cfg.eval_batch_size,
                                   batch_sharding=shardings.batch,
                                   replicated=shardings.replicated)
  step = int(state.step)
  progress.print_progress(
      f"{type(model).__name__} ({config.model.name}), {num_params:,} parameters, "
      f"{shardings.num_devices} device(s), {num_train} train / {data.test_images.shape[0]} test "
      f"images, {total_steps} steps of {train_cfg.batch_size}; "
      + (f"resumed from step {restored_step}; " if restored_step is not None else "")
      + f"compiled in {time.perf_counter() - compile_start:.1f}s", is_main)
  reporter = progress.TrainProgress(total_steps, step, steps_per_epoch, enabled=is_main)

  def test_accuracy() -> float:
    return evaluate_accuracy(count_correct, state.variables, test_images, test_labels)

  final_test_accuracy = None
  images_trained, train_seconds = 0, 0.0
  timer = _Timer(time.perf_counter())
  interval_start_step = step
  while step < total_steps:
    epoch = step // steps_per_epoch
    permutation = permutation_fn(root_key, epoch, num_train)
    epoch_end = min((epoch + 1) * steps_per_epoch, total_steps)
    while step < epoch_end:
      # Every argument is already on the device: a host transfer here is a bug (an argument
      # that became a host array, a Python number), and fails at once instead of slowing
      # every step (tests/test_accel.py).
      with jax.transfer_guard("disallow"):
        state = train_step(state, root_key, train_images, train_labels, permutation)
      step += 1
      reporter.step()
      record = {}
      if step % train_cfg.log_every_steps == 0 or step == total_steps:
        loss_sum, correct_sum, count = jax.device_get(
            (state.loss_sum, state.correct_sum, state.count))
        _check_state_finite(state, last_saved)
        seconds = timer.elapsed()
        images = (step - interval_start_step) * train_cfg.batch_size
        images_trained += images
        train_seconds += seconds
        record.update(
            train_loss=float(loss_sum / max(count, 1)),
            train_accuracy=float(correct_sum / max(count, 1)),
            learning_rate=float(schedule(step - 1)),
            images_per_sec=images / max(seconds, 1e-9))
        state = reset_metrics(state)
        timer, interval_start_step = _Timer(time.perf_counter()), step
      end_of_epoch = step == epoch_end
      if (end_of_epoch and (epoch + 1) % train_cfg.eval_every_epochs == 0) or step == total_steps:
        jax.block_until_ready(state)  # so that pending train steps are not timed as eval
        eval_start = time.perf_counter()
        final_test_accuracy = test_accuracy()
        record["test_accuracy"] = final_test_accuracy
        timer.excluded += time.perf_counter() - eval_start
      if record:
        record = {"step": step, "epoch": step / steps_per_epoch, **record}
        metrics_log.write(record)
        steps_per_sec = images_trained / max(train_seconds, 1e-9) / train_cfg.batch_size
        eta = (total_steps - step) / steps_per_sec if steps_per_sec > 0 else 0.0
        reporter.log(record, eta)
      if step == total_steps or step % train_cfg.checkpoint_every_steps == 0:
        _check_state_finite(state, last_saved)
        writer.save(step, state, saved_config)
        last_saved = step
  reporter.close()
  writer.wait()
  _check_state_finite(state, last_saved)
  if final_test_accuracy is None:  # the run had already finished: just report
    final_test_accuracy = test_accuracy()

  summary = {
      "final_test_accuracy": final_test_accuracy,
      "num_params": num_params,
      "model": config.model.name,
      "steps": step,
      "epochs": step / steps_per_epoch,
      "resumed_from_step": restored_step,
      "num_devices": shardings.num_devices,
      "train_images_per_sec": images_trained / train_seconds if train_seconds else None,
      "wall_time_sec": time.perf_counter() - wall_start,
  }
  previous = run_files.read_summary(workdir) if images_trained == 0 else None
  if previous is not None and previous.get("steps") == step:
    # Nothing trained now (the run had finished): keep the timing of the run that trained it.
    for key in ("train_images_per_sec", "wall_time_sec"):
      summary[key] = previous.get(key, summary[key])
  if is_main:
    run_files.write_summary(workdir, summary)
    progress.print_progress(
        f"done: test accuracy {final_test_accuracy:.4f} after {step} steps, "
        f"{progress.format_duration(summary['wall_time_sec'])} wall time; results in {workdir}",
        is_main)
  return summary
