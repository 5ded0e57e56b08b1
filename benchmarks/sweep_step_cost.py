"""Train-step cost of every member of a sweep relative to its first member, in one run.

Builds each member's model and augmentation from its run config (one seed per member family)
and times its full jitted train step (benchmarks/step_timing.py: batch gather, per-example
augmentation, forward, backward, update, and the LPS temperature for 'lps'), in alternating
blocks in one process. Prints images/s and the cost ratio step time / first member's step
time, both in wall time and in CPU time of the process (time.process_time): on a machine
shared with other jobs, wall time also counts waiting for a core, CPU time mostly does not.

  python -m benchmarks.sweep_step_cost                       # beyond_blurpool at CPU scale
  python -m benchmarks.sweep_step_cost --steps=3 --repeats=3 --members=stride,aps,lps
  python -m benchmarks.sweep_step_cost --width=16 --batch_size=512   # full width (GPU)
  python -m benchmarks.sweep_step_cost --config=configs/sweeps/blurpool_filters.py:cpu

Defaults: configs/sweeps/beyond_blurpool.py:cpu, i.e. ResNet-20, width 8, circular padding,
batch 128, against 'stride'. Synthetic uint8 data (the step's cost does not depend on pixel
values).
"""
from __future__ import annotations

from absl import app, flags
import jax
from ml_collections import config_flags

import augment
import models
from benchmarks.step_timing import (StepTime, build_full_step, median_step_time,
                                    synthetic_training_set, time_block)
from sweeps.spec import expand_sweep
from runtime.mesh import make_data_parallel_mesh

_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/sweeps/beyond_blurpool.py:cpu",
    "Sweep config whose members are timed (the first member is the reference).",
    lock_config=True)
_WIDTH = flags.DEFINE_integer("width", 8, "config.model.width of every member (0 = the "
                              "sweep's own).")
_PADDING = flags.DEFINE_string("padding", "circular", "config.model.padding of every member "
                               "('' = the sweep's own).")
_BATCH = flags.DEFINE_integer("batch_size", 128, "config.train.batch_size of every member (0 = "
                              "the sweep's own).")
_MEMBERS = flags.DEFINE_list("members", None, "Member groups (labels) to time, in this order; "
                             "the first is the reference. Default: all, in sweep order.")
_STEPS = flags.DEFINE_integer("steps", 5, "Steps per timing block.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Alternating timing blocks per member.")


def _member_configs(sweep) -> dict:
  """group label -> run config, one seed per group, in sweep order (or --members order)."""
  base = sweep.base
  if _WIDTH.value:
    base.model.width = _WIDTH.value
  if _PADDING.value:
    base.model.padding = _PADDING.value
  if _BATCH.value:
    base.train.batch_size = _BATCH.value
  configs = {}
  for member in expand_sweep(sweep):
    configs.setdefault(member.group, member.config)
  if _MEMBERS.value is None:
    return configs
  unknown = [name for name in _MEMBERS.value if name not in configs]
  if unknown:
    raise app.UsageError(f"--members {unknown} not in the sweep; its members: "
                         f"{', '.join(configs)}")
  return {name: configs[name] for name in _MEMBERS.value}


def main(argv):
  del argv
  if _STEPS.value < 1 or _REPEATS.value < 1:
    raise app.UsageError("--steps and --repeats must be >= 1.")
  sweep = _CONFIG.value.unlock()
  configs = _member_configs(sweep)
  shardings = make_data_parallel_mesh()
  images, labels = synthetic_training_set(shardings)
  steps, states, params = {}, {}, {}
  for name, config in configs.items():  # compiles each step in its first (untimed) call
    model = models.build_model(**config.model)
    steps[name] = build_full_step(model, augment.build_augment(config.augment), config.train,
                                  images, labels, shardings)
    states[name] = steps[name].state
    params[name] = models.count_params(states[name].params)
  times: dict[str, list[StepTime]] = {name: [] for name in configs}
  for _ in range(_REPEATS.value):
    for name, full in steps.items():
      states[name], seconds = time_block(full.step, states[name], full.args, _STEPS.value)
      times[name].append(seconds)

  first = next(iter(configs))
  batch = {name: int(config.train.batch_size) for name, config in configs.items()}
  medians = {name: median_step_time(block_times) for name, block_times in times.items()}
  print(f"devices: {jax.device_count()} x {jax.devices()[0].device_kind}; "
        f"model {configs[first].model.name}, width {configs[first].model.width}, padding "
        f"{configs[first].model.padding}; batch {batch[first]}; {_REPEATS.value} alternating "
        f"blocks of {_STEPS.value} steps, medians")
  print(f"{'member':<22}{'params':>9}{'wall img/s':>12}{f'wall / {first}':>16}"
        f"{'CPU ms/step':>13}{f'CPU / {first}':>15}")
  for name, median in medians.items():
    print(f"{name:<22}{params[name]:>9,}{batch[name] / median.wall_s:>12.1f}"
          f"{median.wall_s / medians[first].wall_s:>16.2f}{1e3 * median.cpu_s:>13.0f}"
          f"{median.cpu_s / medians[first].cpu_s:>15.2f}", flush=True)


if __name__ == "__main__":
  app.run(main)
