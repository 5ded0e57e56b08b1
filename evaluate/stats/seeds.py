"""The spread over seeds where no per-image values exist (runs evaluated before per-image
files; a sweep's test accuracy): mean and standard deviation over the seeds' summary numbers,
no interval."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np


def mean_and_spread(values: Sequence[Optional[float]]) -> tuple[Optional[float],
                                                                 Optional[float], int]:
  """(mean, standard deviation over seeds (ddof 1; None for fewer than 2), count) of the
  values that are present."""
  present = np.asarray([v for v in values if v is not None], np.float64)
  if present.size == 0:
    return None, None, 0
  spread = float(np.std(present, ddof=1)) if present.size > 1 else None
  return float(present.mean()), spread, int(present.size)
