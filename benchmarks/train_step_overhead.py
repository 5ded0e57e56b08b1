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

import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

import augment
import models
from configs import default
from data.constants import IMAGE_SHAPE
from data.normalize import normalize
from runtime.mesh import make_data_parallel_mesh, put_replicated
from training.optim import build_optimizer
from training.state import TrainState
from training.steps import epoch_permutation, make_train_step, make_update_fn

_MODELS = flags.DEFINE_list("models", ["alexnet", "alexnet_nostride", "resnet20"],
                            "Registered model names to time.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch size.")
_WIDTH = flags.DEFINE_integer("width", 16, "Model width option (0 = each model's default).")
_STEPS = flags.DEFINE_integer("steps", 10, "Steps per timing block.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Alternating timing blocks per variant.")
_POLICIES = flags.DEFINE_string("policies", "crop,flip", "Augmentation policies of the full step.")
_NUM_TRAIN = 10_000  # Size of the synthetic on-device training set.


def _time_block(fn, state, args, steps):
  state = fn(state, *args)  # not timed: make sure nothing is pending
  jax.block_until_ready(state)
  start = time.perf_counter()
  for _ in range(steps):
    state = fn(state, *args)
  jax.block_until_ready(state)
  return state, (time.perf_counter() - start) / steps


def benchmark_model(name: str) -> dict:
  config = default.get_config()
  options = {"width": _WIDTH.value} if _WIDTH.value else {}
  model = models.build_model(name, **options)  # each model's own defaults otherwise
  config.augment.policies = _POLICIES.value
  augment_batch = augment.build_augment(config.augment)
  shardings = make_data_parallel_mesh()
  batch = _BATCH.value
  tx, _ = build_optimizer(config.train, total_steps=1000, steps_per_epoch=_NUM_TRAIN // batch)

  root_key = jax.random.key(0)
  rng = np.random.default_rng(0)
  images = put_replicated(rng.integers(0, 256, (_NUM_TRAIN, *IMAGE_SHAPE), np.uint8),
                          shardings.replicated)
  labels = put_replicated(rng.integers(0, 10, (_NUM_TRAIN,), np.int32), shardings.replicated)
  permutation = jax.jit(epoch_permutation, static_argnums=2)(root_key, 0, _NUM_TRAIN)

  def init(key):
    variables = model.init(key, jnp.zeros((1, *IMAGE_SHAPE)), train=False)
    return TrainState.create(variables, tx)

  state = jax.jit(init, out_shardings=shardings.replicated)(root_key)
  full = jax.jit(make_train_step(model, tx, augment_batch, batch_size=batch,
                                 steps_per_epoch=_NUM_TRAIN // batch, num_classes=10,
                                 label_smoothing=0.0, batch_sharding=shardings.batch),
                 donate_argnums=0, out_shardings=shardings.replicated)
  bare = jax.jit(make_update_fn(model, tx, num_classes=10, label_smoothing=0.0),
                 donate_argnums=0, out_shardings=shardings.replicated)
  bare_inputs = jax.device_put(normalize(images[:batch]), shardings.batch)
  bare_labels = jax.device_put(labels[:batch], shardings.batch)

  full_args = (root_key, images, labels, permutation)
  bare_args = (bare_inputs, bare_labels)
  full_times, bare_times = [], []
  for _ in range(_REPEATS.value):
    state, seconds = _time_block(full, state, full_args, _STEPS.value)
    full_times.append(seconds)
    state, seconds = _time_block(bare, state, bare_args, _STEPS.value)
    bare_times.append(seconds)
  full_s, bare_s = float(np.median(full_times)), float(np.median(bare_times))
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
