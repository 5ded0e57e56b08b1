"""The training loop's cadence: what happens after a train step, as small hooks.

Each hook is called after every train step as `hook(step, state, record) -> state`, in the
order log, evaluate, report, checkpoint, preemption; it does its work only on the steps it is
due (a pure function of `step`, or of a preemption notice), may add entries to `record` (the
metrics line of this step) and returns the state (the log hook returns it with its metric sums
reset). `step` counts the steps done (1 after the first). Wall times are in seconds
(time.perf_counter).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional, Protocol

import jax

from runtime import checkpointing, preemption, progress, run_files
from training.divergence import check_state_finite
from training.state import TrainState

# Guards the divisions by a wall time that can round to zero.
_MIN_SECONDS = 1e-9


class Hook(Protocol):
  """Called after train step `step` (1-based); returns the state the loop goes on with."""

  def __call__(self, step: int, state: TrainState, record: dict[str, Any]) -> TrainState:
    ...


class Throughput:
  """Images trained and the wall time of train steps, evaluation excluded.

  Timed in intervals from one log to the next; the totals cover this process's steps only (a
  resumed run counts from its restore).
  """

  def __init__(self, step: int, batch_size: int):
    self.batch_size = batch_size
    self.images_trained = 0
    self.train_seconds = 0.0
    self.start_interval(step)

  def start_interval(self, step: int) -> None:
    """Starts timing the steps after `step`."""
    self._start, self._excluded, self._start_step = time.perf_counter(), 0.0, step

  def exclude(self, seconds: float) -> None:
    """Leaves `seconds` (an evaluation) out of the current interval."""
    self._excluded += seconds

  def end_interval(self, step: int) -> float:
    """Adds the interval up to `step` to the totals; returns its images per second."""
    seconds = time.perf_counter() - self._start - self._excluded
    images = (step - self._start_step) * self.batch_size
    self.images_trained += images
    self.train_seconds += seconds
    return images / max(seconds, _MIN_SECONDS)

  def steps_per_second(self) -> float:
    """Train steps per second over the totals (0.0 before any interval ended)."""
    return self.images_trained / max(self.train_seconds, _MIN_SECONDS) / self.batch_size

  def images_per_second(self) -> Optional[float]:
    """Images per second over the totals; None if no step was timed."""
    return self.images_trained / self.train_seconds if self.train_seconds else None


class LogTrainMetrics:
  """Every `every_steps` steps and at the last: the mean train loss and accuracy since the last
  log, the learning rate of the step and the images per second; then resets the sums."""

  def __init__(self, every_steps: int, total_steps: int, schedule: Callable[[int], float],
               reset_metrics: Callable[[TrainState], TrainState], throughput: Throughput,
               check_finite: Callable[[TrainState], None]):
    self.every_steps, self.total_steps = every_steps, total_steps
    self.schedule, self.reset_metrics = schedule, reset_metrics
    self.throughput, self.check_finite = throughput, check_finite

  def __call__(self, step: int, state: TrainState, record: dict[str, Any]) -> TrainState:
    if step % self.every_steps != 0 and step != self.total_steps:
      return state
    loss_sum, correct_sum, count = jax.device_get(
        (state.loss_sum, state.correct_sum, state.count))
    self.check_finite(state)
    images_per_sec = self.throughput.end_interval(step)
    record.update(
        train_loss=float(loss_sum / max(count, 1)),
        train_accuracy=float(correct_sum / max(count, 1)),
        learning_rate=float(self.schedule(step - 1)),
        images_per_sec=images_per_sec)
    state = self.reset_metrics(state)
    self.throughput.start_interval(step)
    return state


class EvaluateTestAccuracy:
  """At the end of every `every_steps` steps (a whole number of epochs) and at the last step:
  the test accuracy (a fraction in [0, 1]), its time left out of the throughput."""

  def __init__(self, every_steps: int, total_steps: int,
               test_accuracy: Callable[[TrainState], float], throughput: Throughput):
    self.every_steps, self.total_steps = every_steps, total_steps
    self.test_accuracy, self.throughput = test_accuracy, throughput
    self.last_accuracy: Optional[float] = None

  def __call__(self, step: int, state: TrainState, record: dict[str, Any]) -> TrainState:
    if step % self.every_steps != 0 and step != self.total_steps:
      return state
    jax.block_until_ready(state)  # so that pending train steps are not timed as eval
    eval_start = time.perf_counter()
    self.last_accuracy = self.test_accuracy(state)
    record["test_accuracy"] = self.last_accuracy
    self.throughput.exclude(time.perf_counter() - eval_start)
    return state


class ReportRecord:
  """On a step with a record: writes it to metrics.jsonl with its step and epoch (fractional),
  and prints its progress line with the estimated time left (seconds)."""

  def __init__(self, metrics_log: run_files.MetricsLog, reporter: progress.TrainProgress,
               throughput: Throughput, steps_per_epoch: int, total_steps: int):
    self.metrics_log, self.reporter, self.throughput = metrics_log, reporter, throughput
    self.steps_per_epoch, self.total_steps = steps_per_epoch, total_steps

  def __call__(self, step: int, state: TrainState, record: dict[str, Any]) -> TrainState:
    if not record:
      return state
    line = {"step": step, "epoch": step / self.steps_per_epoch, **record}
    self.metrics_log.write(line)
    steps_per_sec = self.throughput.steps_per_second()
    eta = (self.total_steps - step) / steps_per_sec if steps_per_sec > 0 else 0.0
    self.reporter.log(line, eta)
    return state


class SaveCheckpoint:
  """Every `every_steps` steps and at the last: checks the state is finite and saves it with
  the run's config (a JSON dict). `last_saved` is the step of the last checkpoint (None: none)."""

  def __init__(self, writer: checkpointing.CheckpointWriter, every_steps: int, total_steps: int,
               saved_config: dict, last_saved: Optional[int]):
    self.writer, self.every_steps, self.total_steps = writer, every_steps, total_steps
    self.saved_config, self.last_saved = saved_config, last_saved

  def check_finite(self, state: TrainState) -> None:
    """Raises TrainingDivergedError (naming the last checkpoint) if `state` diverged."""
    check_state_finite(state, self.last_saved)

  def __call__(self, step: int, state: TrainState, record: dict[str, Any]) -> TrainState:
    if step != self.total_steps and step % self.every_steps != 0:
      return state
    self.save(step, state)
    return state

  def save(self, step: int, state: TrainState) -> None:
    """Checks `state` is finite and starts saving it as checkpoint `step` (once per step)."""
    if self.last_saved == step:
      return
    self.check_finite(state)
    self.writer.save(step, state, self.saved_config)
    self.last_saved = step


class SaveOnPreemption:
  """After the step at which a preemption notice is acted on (runtime.preemption; the same
  step on every process): saves that step (unless the cadence just did), waits until the
  checkpoint is written, and raises Preempted. Goes last in the cadence."""

  def __init__(self, notice: preemption.PreemptionNotice, checkpoint: SaveCheckpoint,
               workdir: str):
    self.notice, self.checkpoint, self.workdir = notice, checkpoint, workdir

  def __call__(self, step: int, state: TrainState, record: dict[str, Any]) -> TrainState:
    if not self.notice.reached(step):
      return state
    self.checkpoint.save(step, state)
    self.checkpoint.writer.wait()
    raise preemption.Preempted(step, self.workdir)
