"""The files a run writes into its workdir: config.json, metrics.jsonl, summary.json,
data_location.json, and TensorBoard event files that mirror metrics.jsonl
(common.tensorboard_events).

Only process 0 writes; the other processes get writers that do nothing.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Optional

import ml_collections

from common import tensorboard_events
from common.atomic_files import atomic_write_text
from data.config import resolved_local_dir

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
# Where the latest training session read CIFAR-10 from (write_data_location).
DATA_LOCATION_FILE = "data_location.json"
# The key of config.json that logs every resume (the rest is the config the run started with).
RESUMES_KEY = "resumes"
# The subdirectory of the workdir that evaluation (evaluate.run) writes its reports into.
EVAL_SUBDIR = "eval"


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Writes the resolved config of a run that starts as `workdir/config.json`."""
  atomic_write_text(os.path.join(workdir, CONFIG_FILE), config.to_json(indent=2) + "\n")


def read_config_file(workdir: str) -> tuple[Optional[dict], list[dict]]:
  """(config, resumes) of `workdir/config.json`: the config the run started with (None if
  there is no readable file) and its resume log (RESUMES_KEY; [] for runs saved before it)."""
  try:
    with open(os.path.join(workdir, CONFIG_FILE)) as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return None, []
  resumes = saved.pop(RESUMES_KEY, [])
  return saved, resumes


def append_resume(workdir: str, config: ml_collections.ConfigDict, entry: dict[str, Any]) -> None:
  """Adds `entry` (step, time, devices, what changed) to the resume log of config.json; the
  config there stays the one the run started with (`config` if there is no config.json)."""
  started, resumes = read_config_file(workdir)
  if started is None:
    started = json.loads(config.to_json())
    entry = {**entry, "note": "config.json was missing; the config above is this resume's"}
  text = json.dumps({**started, RESUMES_KEY: resumes + [entry]}, indent=2) + "\n"
  atomic_write_text(os.path.join(workdir, CONFIG_FILE), text)


def write_data_location(workdir: str, data_config: ml_collections.ConfigDict) -> None:
  """Records in `workdir/data_location.json` where this session reads CIFAR-10 from:
  {"source": config.data.source, "dir": the absolute path of the local copy (config.data.dir,
  else $CIFAR10_DIR) or null (TFDS, synthetic)}. Evaluation reads it back
  (read_data_location), so it need not be told again where the data are."""
  record = {"source": data_config.source, "dir": resolved_local_dir(data_config)}
  atomic_write_text(os.path.join(workdir, DATA_LOCATION_FILE), json.dumps(record, indent=2) + "\n")


def read_data_location(workdir: str) -> Optional[str]:
  """The absolute data directory recorded by write_data_location; None when the workdir has
  no (readable) record or the run read no local copy."""
  try:
    with open(os.path.join(workdir, DATA_LOCATION_FILE)) as f:
      directory = json.load(f).get("dir")
  except (OSError, ValueError, AttributeError):
    return None
  return directory if isinstance(directory, str) and directory else None


def write_summary(workdir: str, summary: dict[str, Any]) -> None:
  """Writes `workdir/summary.json`."""
  atomic_write_text(os.path.join(workdir, SUMMARY_FILE), json.dumps(summary, indent=2) + "\n")


def read_summary(workdir: str) -> Optional[dict[str, Any]]:
  """`workdir/summary.json` as a dict, or None if there is none (or it is unreadable)."""
  try:
    with open(os.path.join(workdir, SUMMARY_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _finite_or_none(value):
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


class MetricsLog:
  """Appends one JSON object per line to `workdir/metrics.jsonl`, and the same scalars to the
  workdir's TensorBoard event file (tag = field name, TensorBoard step = the record's step)."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, METRICS_FILE)
    self._events = tensorboard_events.ScalarEventFile(workdir, tensorboard_events.TRAIN_SUFFIX)

  def truncate_after(self, step: int) -> None:
    """Drops lines logged after `step` (by a run that crashed after its last checkpoint), and
    starts this session's event file: it purges the older files' steps after `step` (or,
    if there are no older files, first writes the lines kept)."""
    kept = []
    if os.path.exists(self.path):
      with open(self.path) as f:
        for line in f:
          try:
            if json.loads(line).get("step", 0) <= step:
              kept.append(line)
          except json.JSONDecodeError:
            continue  # a line cut by a crash
      atomic_write_text(self.path, "".join(kept))
    self._events.start(purge_from=step + 1, backfill=[json.loads(line) for line in kept])

  def write(self, record: dict[str, Any]) -> None:
    record = {k: _finite_or_none(v) for k, v in record.items()}
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    self._events.write(int(record["step"]), tensorboard_events.record_scalars(record))

  def close(self) -> None:
    """Closes the event file (every write is already on disk)."""
    self._events.close()


class NullMetricsLog(MetricsLog):
  """What processes other than 0 use: writes nothing."""

  def __init__(self):
    self.path = os.devnull

  def truncate_after(self, step: int) -> None:
    pass

  def write(self, record: dict[str, Any]) -> None:
    pass

  def close(self) -> None:
    pass
