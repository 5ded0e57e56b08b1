"""The files a run writes into its workdir: config.json, metrics.jsonl, summary.json.

Only process 0 writes; the other processes get writers that do nothing.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any

import ml_collections

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


def atomic_write_text(path: str, text: str) -> None:
  """Writes `text` to `path` through a temporary file, so readers never see half a file."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Writes the resolved config as `workdir/config.json`."""
  atomic_write_text(os.path.join(workdir, CONFIG_FILE), config.to_json(indent=2) + "\n")


def write_summary(workdir: str, summary: dict[str, Any]) -> None:
  """Writes `workdir/summary.json`."""
  atomic_write_text(os.path.join(workdir, SUMMARY_FILE), json.dumps(summary, indent=2) + "\n")


def _finite_or_none(value):
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


class MetricsLog:
  """Appends one JSON object per line to `workdir/metrics.jsonl`."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, METRICS_FILE)

  def truncate_after(self, step: int) -> None:
    """Drops lines logged after `step` (by a run that crashed after its last checkpoint)."""
    if not os.path.exists(self.path):
      return
    kept = []
    with open(self.path) as f:
      for line in f:
        try:
          if json.loads(line).get("step", 0) <= step:
            kept.append(line)
        except json.JSONDecodeError:
          continue  # a line cut by a crash
    atomic_write_text(self.path, "".join(kept))

  def write(self, record: dict[str, Any]) -> None:
    record = {k: _finite_or_none(v) for k, v in record.items()}
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")


class NullMetricsLog(MetricsLog):
  """What processes other than 0 use: writes nothing."""

  def __init__(self):
    self.path = os.devnull

  def truncate_after(self, step: int) -> None:
    pass

  def write(self, record: dict[str, Any]) -> None:
    pass
