"""TensorBoard event files that mirror a run's metrics.jsonl and an evaluation's eval.json.

Written with tensorboardX's event writer and protocol buffers (pure Python, no TensorFlow),
synchronously: every `write` is on disk when it returns, so a killed run loses nothing that
its JSON files hold. The JSON files stay the source of truth; the event files are a copy for
viewers (`tensorboard --logdir runs/`, where every directory holding event files is one run,
so the members of a sweep appear side by side).

Every start of a writer opens a new event file. A resumed run's new file begins with a
SessionLog.START event at the first step after its checkpoint: TensorBoard (both its Python
loader and the Rust data server) then drops the steps that the older files hold from that
step on, i.e. those logged after the checkpoint by the session that died, which the resumed
run logs again (metrics.jsonl drops the same lines). So no step is shown twice or out of
order, in a TensorBoard started later or one that is already open. Old files are never
deleted (a TensorBoard reading one would stop updating that run).

tensorboardX is imported when the first event file is opened, not with this module. Where it
is not installed (an accelerator image with a preinstalled Python, say), no event files are
written and one warning says so; metrics.jsonl and eval.json are complete either way.
"""
from __future__ import annotations

import functools
import glob
import importlib.util
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any, Optional

# Event files of a training run's metrics.jsonl (in the run's workdir) and of an
# evaluation's headline metrics (in its eval directory).
TRAIN_SUFFIX = ".metrics"
EVAL_SUFFIX = ".eval"
# The record field that is the x-axis (TensorBoard's step), not a scalar.
STEP_KEY = "step"


@functools.lru_cache(maxsize=None)
def available() -> bool:
  """Whether tensorboardX is installed; if not, warns once (event files are skipped)."""
  if importlib.util.find_spec("tensorboardX") is not None:
    return True
  logging.warning("tensorboardX is not installed: no TensorBoard event files are written "
                  "(metrics.jsonl and eval.json hold every value; pip install tensorboardX "
                  "to get them).")
  return False


def event_files(logdir: str, suffix: str) -> list[str]:
  """The event files of `suffix` in `logdir`, in name order (the order viewers read them)."""
  return sorted(glob.glob(os.path.join(glob.escape(logdir), f"events.out.tfevents.*{suffix}")))


def record_scalars(record: Mapping[str, Any]) -> dict[str, float]:
  """The scalars of one metrics.jsonl record: every finite number except the step, tagged
  with its field name (train_loss, train_accuracy, learning_rate, images_per_sec, epoch,
  test_accuracy)."""
  return {key: float(value) for key, value in record.items()
          if key != STEP_KEY and isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value)}


class ScalarEventFile:
  """The event files of `suffix` in `logdir`: scalars by step, one Event per (step, tag)."""

  def __init__(self, logdir: str, suffix: str):
    self.logdir = logdir
    self.suffix = suffix
    self._writer = None  # a tensorboardX EventsWriter while a file is open

  def start(self, purge_from: Optional[int],
            backfill: Iterable[Mapping[str, Any]] = ()) -> None:
    """Opens a new event file for this session.

    If older files of this writer exist and `purge_from` is not None, the new file starts
    with a SessionLog.START at step `purge_from`: viewers drop the older files' steps >=
    purge_from. If none exist, the `backfill` records (each with a 'step') are written
    first, so that the files hold everything the JSON file holds.
    """
    self.close()
    if not available():
      return
    # pylint: disable=g-import-not-at-top
    from tensorboardX.event_file_writer import EventsWriter
    from tensorboardX.proto.event_pb2 import Event, SessionLog
    existing = event_files(self.logdir, self.suffix)
    os.makedirs(self.logdir, exist_ok=True)
    # Viewers read a run's files in name order: events.out.tfevents.<second>.<host><suffix>;
    # a sequence number before the suffix orders files created in the same second.
    self._writer = EventsWriter(os.path.join(self.logdir, "events"),
                                f".{len(existing):04d}{self.suffix}")
    if existing and purge_from is not None:
      self._writer.write_event(Event(wall_time=time.time(), step=int(purge_from),
                                     session_log=SessionLog(status=SessionLog.START)))
    elif not existing:
      for record in backfill:
        self._write_scalars(int(record.get(STEP_KEY, 0)), record_scalars(record))
    self._writer.flush()

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    """Appends `scalars` (tag -> value) at `step`; on disk when this returns. Starts a new
    file (without purging) if start() was not called."""
    if self._writer is None:
      self.start(purge_from=None)
    if self._writer is None:  # no tensorboardX
      return
    self._write_scalars(step, scalars)
    self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None

  def _write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    # pylint: disable=g-import-not-at-top
    from tensorboardX import summary
    from tensorboardX.proto.event_pb2 import Event
    wall_time = time.time()
    for tag, value in scalars.items():
      self._writer.write_event(Event(wall_time=wall_time, step=step,
                                     summary=summary.scalar(tag, value)))


def eval_scalars(eval_report: Mapping[str, Any]) -> dict[str, float]:
  """The headline metrics of an evaluation report (evaluate.report): `clean_accuracy` and
  `<protocol>/<metric>` for every protocol's metric means (accuracy, worst_case_accuracy,
  consistency, p_top1_change, mac, ...)."""
  scalars = {}
  clean = eval_report.get("clean_accuracy") or {}
  if isinstance(clean.get("mean"), (int, float)):
    scalars["clean_accuracy"] = float(clean["mean"])
  for name, entry in eval_report.get("protocols", {}).items():
    for metric, value in entry.get("metrics", {}).items():
      mean = value.get("mean") if isinstance(value, Mapping) else None
      if isinstance(mean, (int, float)) and math.isfinite(mean):
        scalars[f"{name}/{metric}"] = float(mean)
  return scalars


def write_eval_events(eval_dir: str, eval_report: Mapping[str, Any]) -> None:
  """Writes eval_scalars(eval_report) at the evaluated checkpoint's step into `eval_dir`;
  an earlier evaluation's values there are purged (from step 0), as eval.json is replaced."""
  events = ScalarEventFile(eval_dir, EVAL_SUFFIX)
  events.start(purge_from=0)
  events.write(int(eval_report["checkpoint_step"]), eval_scalars(eval_report))
  events.close()
