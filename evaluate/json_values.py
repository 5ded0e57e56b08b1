"""Metric values as JSON can hold them: plain Python numbers, NaN and infinities as null.

A standard error over one image is NaN and a metric over an empty group is NaN; JSON has no
NaN, so eval.json and summary files write None (null) there. Stat = {"mean", "stderr", ...}
as evaluate.metrics returns it, with scalar or per-group (list) values.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np


def finite_or_none(value) -> Optional[float]:
  """float(value), or None if it is NaN or infinite."""
  value = float(value)
  return value if math.isfinite(value) else None


def json_list(values) -> list:
  """A 1-D array as a list: integers stay int, floats become finite_or_none."""
  values = np.asarray(values)
  if values.dtype.kind in "iub":
    return [int(v) for v in values]
  return [finite_or_none(v) for v in values]


def json_metric(value: Mapping[str, Any]) -> dict[str, Optional[float]]:
  """A pooled Stat as {"mean", "stderr"} plain floats (None where not finite)."""
  return {"mean": finite_or_none(value["mean"]), "stderr": finite_or_none(value["stderr"])}


def json_stat(value: Mapping[str, Any]) -> dict[str, Any]:
  """A Stat with every key kept; its mean and stderr (scalars or per-group lists) cleaned."""
  out = dict(value)
  for key in ("mean", "stderr"):
    out[key] = (json_list(value[key]) if isinstance(value[key], (list, np.ndarray))
                else finite_or_none(value[key]))
  return out
