"""How much the framework adds to a train step: full step versus bare update, same run.

For each model, times (a) the real jitted train step (pick the batch from the on-device uint8
training set by the epoch permutation, augment per example, normalise, forward, backward,
update) and (b) the bare forward+backward+update on a batch that is already normalised on the
device. Both are timed alternately in the same process, so the ratio full/bare is the
framework's overhead (data, augmentation, sharding) and is robust to machine noise.

  python -m benchmarks.train_step_overhead                     # CPU-sized defaults
  python -m benchmarks.train_step_overhead --batch_size=512 --width=0 --repeats=5   # GPU

Synthetic uint8 data (the step's cost does not depend on pixel values).
"""
from __future__ import annotations

from absl import app, flags
import jax

import augment
import models
from benchmarks.step_timing import (build_full_step, median_step_time, synthetic_training_set,
                                    time_block)
from configs import default
from data.normalize import normalize
from runtime.mesh import make_data_parallel_mesh
from training.steps import make_update_fn

_MODELS = flags.DEFINE_list("models", ["alexnet", "alexnet_nostride", "resnet20"],
                            "Registered model names to time.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch size.")
_WIDTH = flags.DEFINE_integer("width", 16, "Model width option (0 = each model's default).")
_STEPS = flags.DEFINE_integer("steps", 10, "Steps per timing block.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Alternating timing blocks per variant.")
_POLICIES = flags.DEFINE_string("policies", "crop,flip", "Augmentation policies of the full step.")


def benchmark_model(name: str) -> dict:
  config = default.get_config()
  config.train.batch_size = batch = _BATCH.value
  options = {"width": _WIDTH.value} if _WIDTH.value else {}
  model = models.build_model(name, **options)  # each model's own defaults otherwise
  config.augment.policies = _POLICIES.value
  shardings = make_data_parallel_mesh()
  images, labels = synthetic_training_set(shardings)
  full = build_full_step(model, augment.build_augment(config.augment), config.train, images,
                         labels, shardings)
  state = full.state
  bare = jax.jit(make_update_fn(model, full.tx, num_classes=10, label_smoothing=0.0),
                 donate_argnums=0, out_shardings=shardings.replicated)
  bare_args = (jax.device_put(normalize(images[:batch]), shardings.batch),
               jax.device_put(labels[:batch], shardings.batch))
  full_times, bare_times = [], []
  for _ in range(_REPEATS.value):
    state, seconds = time_block(full.step, state, full.args, _STEPS.value)
    full_times.append(seconds)
    state, seconds = time_block(bare, state, bare_args, _STEPS.value)
    bare_times.append(seconds)
  full_s = median_step_time(full_times).wall_s
  bare_s = median_step_time(bare_times).wall_s
  return dict(model=name, params=models.count_params(state.params),
              full_img_s=batch / full_s, bare_img_s=batch / bare_s, ratio=full_s / bare_s)


def main(argv):
  del argv
  print(f"devices: {jax.device_count()} x {jax.devices()[0].device_kind}; batch {_BATCH.value}; "
        f"width {_WIDTH.value or 'default'}; augmentation '{_POLICIES.value}'")
  print(f"{'model':<18}{'params':>11}{'full img/s':>12}{'bare img/s':>12}{'full/bare':>11}")
  for name in _MODELS.value:
    r = benchmark_model(name)
    print(f"{r['model']:<18}{r['params']:>11,}{r['full_img_s']:>12.0f}{r['bare_img_s']:>12.0f}"
          f"{r['ratio']:>11.3f}", flush=True)


if __name__ == "__main__":
  app.run(main)
