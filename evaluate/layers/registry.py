"""ANALYSES: name -> Analysis(check, run).

  check(section, layer_names) raises ValueError / UnknownNameError for a bad config section,
    before any data are loaded (layer_names: the captured layers analysed, in order).
  run(context, section) -> JSON-able dict (with 'files': the PNGs written).

`context` is an evaluate.layers.runner.LayerContext (model, variables, test images, data,
mesh, output directory, progress printer); `section` is the analysis' own config section
(config.<name>, evaluate/layers/config.py). Each analysis module registers itself with one
line: `ANALYSES.register('<name>')(Analysis(check, run))`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from common.errors import ConfigError
from common.registry import Registry


@dataclasses.dataclass(frozen=True)
class Analysis:
  check: Callable[[Any, list[str]], None]
  run: Callable[[Any, Any], dict[str, Any]]


ANALYSES: Registry[Analysis] = Registry("layer analysis")


def require_non_negative(section, *fields: str) -> None:
  """Raises ValueError naming the first of `fields` of `section` that is not an integer >= 0."""
  for field in fields:
    value = section[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
      raise ConfigError(f"{field} must be an integer >= 0, got {value!r}")


def require_positive(section, *fields: str) -> None:
  """Raises ValueError naming the first of `fields` of `section` that is not an integer >= 1."""
  for field in fields:
    value = section[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ConfigError(f"{field} must be an integer >= 1, got {value!r}")
