"""The Gumbel-softmax temperature schedule of learnable downsampling (LPS), from
`config.train.lps_temperature` (fields in configs/default.py):

  schedule         'exponential' (geometric from start to end) | 'linear' | 'constant' (start)
                   | 'step_decay' (the LPS reference code's: start * decay_factor every
                   decay_every_epochs epochs, never below end).
  start, end       temperatures (> 0, finite, end <= start: the schedule anneals); for
                   'step_decay', end is the floor (the reference: 1.0, x0.85 every 10 epochs,
                   floor 0.025).
  anneal_fraction  fraction of the run's steps, in (0, 1], over which exponential and linear
                   go from start to end; they stay at end afterwards. Being a fraction, it fits
                   every run length.
  decay_factor, decay_every_epochs   'step_decay' only: the factor in (0, 1] and its period
                   in epochs (> 0): the temperature of epoch e (counting from 0) is
                   max(start * decay_factor ** floor(e / decay_every_epochs), end).

`build_temperature_schedule(cfg, total_steps, steps_per_epoch)` returns a function of the
optimiser step (int or traced int32) -> float32 temperature; the train step evaluates it at the
step it takes and passes it to the model (training/steps.py). Models without stochastic
downsampling ignore it.
"""
from __future__ import annotations

import math
from typing import Callable

import jax.numpy as jnp
import ml_collections

from common.errors import ConfigError
from common.registry import Registry

TemperatureSchedule = Callable[[jnp.ndarray], jnp.ndarray]

# name -> f(cfg, step, anneal_steps, steps_per_epoch) -> temperature; step is a float32 scalar
# (traced), cfg a checked config.train.lps_temperature.
TEMPERATURE_SCHEDULES: Registry[Callable] = Registry("temperature schedule")


def _progress(step, anneal_steps):
  """Fraction of the annealing done at `step`, in [0, 1]."""
  return jnp.clip(step / anneal_steps, 0.0, 1.0)


TEMPERATURE_SCHEDULES.register("constant")(
    lambda cfg, step, anneal_steps, steps_per_epoch: float(cfg.start) + 0.0 * step)
TEMPERATURE_SCHEDULES.register("linear")(
    lambda cfg, step, anneal_steps, steps_per_epoch: float(cfg.start) + (
        float(cfg.end) - float(cfg.start)) * _progress(step, anneal_steps))
TEMPERATURE_SCHEDULES.register("exponential")(
    lambda cfg, step, anneal_steps, steps_per_epoch: float(cfg.start) * (
        float(cfg.end) / float(cfg.start)) ** _progress(step, anneal_steps))


@TEMPERATURE_SCHEDULES.register("step_decay")
def _step_decay(cfg, step, anneal_steps, steps_per_epoch):
  del anneal_steps
  decays = jnp.floor(step / (float(cfg.decay_every_epochs) * steps_per_epoch))
  return jnp.maximum(float(cfg.start) * float(cfg.decay_factor) ** decays, float(cfg.end))


DEFAULT_TEMPERATURE = dict(schedule="exponential", start=1.0, end=0.1, anneal_fraction=1.0,
                           decay_factor=0.85, decay_every_epochs=10.0)


def temperature_config(train: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """config.train.lps_temperature, or the defaults for a config written before it existed;
  fields added since (decay_factor, decay_every_epochs) take their defaults."""
  if "lps_temperature" not in train:
    return ml_collections.ConfigDict(DEFAULT_TEMPERATURE)
  given = train.lps_temperature
  given = given.to_dict() if hasattr(given, "to_dict") else dict(given)
  return ml_collections.ConfigDict({**DEFAULT_TEMPERATURE, **given})


def check_temperature_config(cfg: ml_collections.ConfigDict) -> None:
  """Raises UnknownNameError / ValueError (naming the field) for a schedule that cannot run."""
  TEMPERATURE_SCHEDULES.get(cfg.schedule)
  for field in ("start", "end"):
    value = cfg[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0):
      raise ConfigError(f"config.train.lps_temperature.{field} must be a finite number > 0, "
                        f"got {value!r}")
  if cfg.schedule != "constant" and cfg.end > cfg.start:
    raise ConfigError(f"config.train.lps_temperature anneals: end ({cfg.end}) must be <= start "
                      f"({cfg.start})")
  factor = cfg.get("decay_factor", DEFAULT_TEMPERATURE["decay_factor"])
  if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor <= 1:
    raise ConfigError(f"config.train.lps_temperature.decay_factor must be in (0, 1], got "
                      f"{factor!r}")
  every = cfg.get("decay_every_epochs", DEFAULT_TEMPERATURE["decay_every_epochs"])
  if isinstance(every, bool) or not isinstance(every, (int, float)) or not (
      math.isfinite(every) and every > 0):
    raise ConfigError(f"config.train.lps_temperature.decay_every_epochs must be a number of "
                      f"epochs > 0, got {every!r}")
  fraction = cfg.anneal_fraction
  if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
      0 < fraction <= 1):
    raise ConfigError(f"config.train.lps_temperature.anneal_fraction must be in (0, 1] (a "
                      f"fraction of the run's steps), got {fraction!r}")


def build_temperature_schedule(cfg: ml_collections.ConfigDict, total_steps: int,
                               steps_per_epoch: int = 1) -> TemperatureSchedule:
  """step -> float32 temperature. exponential / linear anneal over
  round(anneal_fraction * total_steps) steps; step_decay decays every
  decay_every_epochs * steps_per_epoch steps."""
  check_temperature_config(cfg)
  cfg = ml_collections.ConfigDict({**DEFAULT_TEMPERATURE, **cfg.to_dict()})
  shape = TEMPERATURE_SCHEDULES.get(cfg.schedule)
  anneal_steps = max(int(round(cfg.anneal_fraction * total_steps)), 1)
  steps_per_epoch = max(int(steps_per_epoch), 1)

  def schedule(step):
    return jnp.asarray(shape(cfg, jnp.asarray(step, jnp.float32), anneal_steps,
                             steps_per_epoch), jnp.float32)

  return schedule
