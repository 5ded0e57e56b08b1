"""The Gumbel-softmax temperature schedule of learnable downsampling (LPS), from
`config.train.lps_temperature` (fields in configs/default.py):

  schedule         'exponential' (geometric from start to end) | 'linear' | 'constant' (start).
  start, end       temperatures (> 0, finite, end <= start: the schedule anneals).
  anneal_fraction  fraction of the run's steps, in (0, 1], over which it goes from start to
                   end; it stays at end afterwards. Being a fraction, it fits every run length.

`build_temperature_schedule(cfg, total_steps)` returns a function of the optimiser step
(int or traced int32) -> float32 temperature; the train step evaluates it at the step it
takes and passes it to the model (training/steps.py). Models without stochastic
downsampling ignore it.
"""
from __future__ import annotations

import math
from typing import Callable

import jax.numpy as jnp
import ml_collections

from common.registry import Registry

TemperatureSchedule = Callable[[jnp.ndarray], jnp.ndarray]

# name -> f(start, end, progress in [0, 1]) -> temperature.
TEMPERATURE_SCHEDULES: Registry[Callable] = Registry("temperature schedule")
TEMPERATURE_SCHEDULES.register("constant")(lambda start, end, progress: start + 0.0 * progress)
TEMPERATURE_SCHEDULES.register("linear")(
    lambda start, end, progress: start + (end - start) * progress)
TEMPERATURE_SCHEDULES.register("exponential")(
    lambda start, end, progress: start * (end / start) ** progress)

DEFAULT_TEMPERATURE = dict(schedule="exponential", start=1.0, end=0.1, anneal_fraction=1.0)


def temperature_config(train: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """config.train.lps_temperature, or the defaults for a config written before it existed."""
  if "lps_temperature" in train:
    return train.lps_temperature
  return ml_collections.ConfigDict(DEFAULT_TEMPERATURE)


def check_temperature_config(cfg: ml_collections.ConfigDict) -> None:
  """Raises UnknownNameError / ValueError (naming the field) for a schedule that cannot run."""
  TEMPERATURE_SCHEDULES.get(cfg.schedule)
  for field in ("start", "end"):
    value = cfg[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0):
      raise ValueError(f"config.train.lps_temperature.{field} must be a finite number > 0, "
                       f"got {value!r}")
  if cfg.schedule != "constant" and cfg.end > cfg.start:
    raise ValueError(f"config.train.lps_temperature anneals: end ({cfg.end}) must be <= start "
                     f"({cfg.start})")
  fraction = cfg.anneal_fraction
  if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
      0 < fraction <= 1):
    raise ValueError(f"config.train.lps_temperature.anneal_fraction must be in (0, 1] (a "
                     f"fraction of the run's steps), got {fraction!r}")


def build_temperature_schedule(cfg: ml_collections.ConfigDict,
                               total_steps: int) -> TemperatureSchedule:
  """step -> float32 temperature; anneals over round(anneal_fraction * total_steps) steps."""
  check_temperature_config(cfg)
  shape = TEMPERATURE_SCHEDULES.get(cfg.schedule)
  start, end = float(cfg.start), float(cfg.end)
  anneal_steps = max(int(round(cfg.anneal_fraction * total_steps)), 1)

  def schedule(step):
    progress = jnp.clip(jnp.asarray(step, jnp.float32) / anneal_steps, 0.0, 1.0)
    return jnp.asarray(shape(start, end, progress), jnp.float32)

  return schedule
