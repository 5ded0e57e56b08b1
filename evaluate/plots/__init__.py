"""Every figure of the project, drawn with matplotlib: this package, one module per kind.

  evaluate.plots             the drawing kit every figure uses (this module): a blank figure
                             with an Agg canvas, writing a PNG, titles, error bars
  evaluate.plots.evaluation  one evaluation's figures (heat maps over the grid, jagged curves,
                             sensitivity versus size and metrics per protocol of its report)
  evaluate.plots.comparison  figures that compare runs or sweep members (`python -m
                             evaluate.compare`, `sweep.py --collect`): sensitivity versus size,
                             metrics per protocol, invariance versus accuracy, paired
                             differences, accuracy per member
  evaluate.plots.intervals   interval summaries and paired comparisons (evaluate.stats) turned
                             into the comparison figures' series (paired_<metric>.png)
  evaluate.plots.layers      the layer analyses' figures (`python -m evaluate.layers`)

Figures are built with `matplotlib.figure.Figure` and written by its Agg canvas: no pyplot,
no global backend state, no display needed. Every function takes plain data (lists, NumPy
arrays, the dicts of eval.json) and writes one PNG; none computes a metric. matplotlib is
imported when the first figure is drawn, not with these modules (`available()` says whether
it can be), so code that imports them runs where matplotlib is not installed.

Metric (the data of an error bar): {"mean": float, "stderr": float} (stderr: standard error
over images, an error bar of ± stderr), or {"mean", "ci_low", "ci_high"} (an interval, e.g.
the 95% bootstrap interval over seeds and images of evaluate.stats.paired.summarise_run: an
error bar from ci_low to ci_high). The caller's title says which.
"""
from __future__ import annotations

import importlib.util
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

if TYPE_CHECKING:
  from matplotlib.figure import Figure

from common.atomic_files import atomic_write

_DPI = 110


def available() -> bool:
  """Whether matplotlib is installed (every plot needs it)."""
  return importlib.util.find_spec("matplotlib") is not None


def MaxNLocator(**options):  # pylint: disable=invalid-name
  """matplotlib.ticker.MaxNLocator(**options), imported on first use."""
  from matplotlib.ticker import MaxNLocator as locator  # pylint: disable=g-import-not-at-top
  return locator(**options)


def new_figure(width: float, height: float) -> Figure:
  """A blank figure (inches) with an Agg canvas and constrained layout; no pyplot state."""
  # pylint: disable=g-import-not-at-top
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
  FigureCanvasAgg(figure)
  return figure


def save(figure: Figure, path: str) -> str:
  """Writes `figure` as a PNG to `path` (atomically); returns `path`."""
  with atomic_write(path, "wb") as f:
    figure.savefig(f, format="png", dpi=_DPI)
  return path


def suptitle(figure: Figure, title: str) -> None:
  """The figure's title, wrapped to its width (about 9 characters per inch)."""
  figure.suptitle(textwrap.fill(title, width=max(int(9 * figure.get_figwidth()), 40)))


def as_floats(values: Sequence[Any]) -> np.ndarray:
  """None -> NaN, so JSON nulls plot as gaps."""
  return np.asarray([np.nan if v is None else float(v) for v in values], np.float64)


def error_bars(metrics: Sequence[Optional[Mapping[str, Any]]]) -> np.ndarray:
  """(2, n) lengths below and above the mean of the error bar of each Metric (module
  docstring): to ci_low and ci_high when it has an interval, else ± stderr; NaN (no bar)
  where it has neither, or is None."""
  out = np.full((2, len(metrics)), np.nan)
  for index, metric in enumerate(metrics):
    if not metric or metric.get("mean") is None:
      continue
    mean = float(metric["mean"])
    if metric.get("ci_low") is not None and metric.get("ci_high") is not None:
      out[:, index] = mean - float(metric["ci_low"]), float(metric["ci_high"]) - mean
    elif metric.get("stderr") is not None:
      out[:, index] = float(metric["stderr"])
  return out
