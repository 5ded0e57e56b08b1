"""Starts every shipped config on this process's devices (run it with fake CPU devices).

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/configs_on_devices.py TMPDIR

Every configs/*.py experiment config and the base and every member of every
configs/sweeps/*.py sweep (full scale and ':cpu'; the transformers sweep's members bring their
own model sections) is checked as train.py starts it: model, augmentation and evaluation
protocols build, and its training batch divides over 1, 2, 4 and 8 devices. One config per
model name (the first in that order) then runs, shrunk to tiny sizes (width 4, one block for
transformers, a synthetic training set of one batch of 16, 13 test images, 1 step) but with
its own model, augmentation and evaluation batch (500: not a multiple of 8), through
train_and_evaluate:
one step and an accuracy evaluation on all devices; the same weights are then evaluated on a
one-device mesh. Also runs the grid engine and the shift attack (gradient ascent over sub-pixel
shifts) on 3 images on all devices and on one, and starts one run with a training batch of 12
(train_and_evaluate must refuse it: 12 does not divide over 8 devices). (One run
per model name keeps the compile time, which dominates, to four models; the test runs this
with XLA's cheaper CPU optimisation level for the same reason.) Prints one JSON line:
  {"devices": D, "checked": [spec...], "configs": {spec: {"accuracy": all devices,
   "accuracy_one_device": ..., "model": ..., "devices": ...}},
   "grid_max_difference": max |probs or logit spread (all devices) - (one device)|,
   "grid_shape": [...], "attack_max_difference": max |worst loss (all devices) - (one)|,
   "attack_same_verdicts": per-image correct and stable agree,
   "batch_12_error": "<error type>: <message>" of the batch-12 run ('' if it ran)}
"""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

import models  # pylint: disable=g-import-not-at-top
from common.config_files import load_config_file  # pylint: disable=g-import-not-at-top
from common.errors import UserError  # pylint: disable=g-import-not-at-top
from data import load_cifar10  # pylint: disable=g-import-not-at-top
from evaluate import attack, grid, protocols  # pylint: disable=g-import-not-at-top
from runtime.accuracy import (evaluate_accuracy, make_accuracy_fn,  # pylint: disable=g-import-not-at-top
                              make_predict_fn)
import augment  # pylint: disable=g-import-not-at-top
from evaluate.config import check_eval_config  # pylint: disable=g-import-not-at-top
from runtime import checkpointing  # pylint: disable=g-import-not-at-top
from runtime.mesh import (check_divisible, make_data_parallel_mesh,  # pylint: disable=g-import-not-at-top
                          put_replicated)
from pipeline.train_then_evaluate import train_and_evaluate  # pylint: disable=g-import-not-at-top
from runtime.variables import model_variables  # pylint: disable=g-import-not-at-top
from sweeps import expand_sweep  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_TEST_IMAGES = 13  # divides over no device count > 1
TRAIN_BATCH = 16  # the tiny runs' training batch (the shipped ones are checked to divide)
DEVICE_COUNTS = (1, 2, 4, 8)


def config_specs() -> list[str]:
  """Every experiment config file (with its argument variants) and every sweep file."""
  specs = []
  for path in sorted(glob.glob(os.path.join(ROOT, "configs", "*.py"))):
    name = os.path.basename(path)
    if name in ("__init__.py", "scales.py"):  # scales.py holds shared settings, no config
      continue
    specs.append(path)
  specs.append(os.path.join(ROOT, "configs", "fig10_augmentation.py") + ":none,cpu")
  for path in sorted(glob.glob(os.path.join(ROOT, "configs", "sweeps", "*.py"))):
    if os.path.basename(path) != "__init__.py":
      specs += [path, path + ":cpu"]
  return specs


def check_starts(config) -> None:
  """What train.py checks before any work, for 1, 2, 4 and 8 devices."""
  models.build_model(**config.model)
  augment.build_augment(config.augment)
  check_eval_config(config.eval)
  for count in DEVICE_COUNTS:
    check_divisible(int(config.train.batch_size), count, "config.train.batch_size")


def tiny(config):
  """`config` shrunk in place: tiny width (and depth), data and batch, 1 step; eval batch
  kept."""
  config.data.source = "synthetic"
  config.data.train_subset = 0
  config.train.batch_size = TRAIN_BATCH
  config.data.synthetic_train_size = TRAIN_BATCH
  config.data.synthetic_test_size = NUM_TEST_IMAGES
  config.model.width = 4
  if "num_heads" in config.model:  # the transformers: heads must divide the width
    config.model.num_heads = 1
  if "depth" in config.model:  # transformers: one block
    config.model.depth = 1
  config.train.num_epochs = 0.0
  config.train.num_steps = 1
  config.train.warmup_epochs = 0.0
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 1
  config.eval.run_after_training = False
  return config


def one_device_accuracy(config, workdir) -> float:
  """Test accuracy of the workdir's latest checkpoint on a one-device mesh."""
  shardings = make_data_parallel_mesh(jax.devices()[:1])
  model = models.build_model(**config.model)
  tree, _ = checkpointing.load_latest(workdir)
  variables = jax.device_put(model_variables(tree["params"], tree.get("batch_stats")),
                             shardings.replicated)
  data = load_cifar10(config.data)
  count_correct = make_accuracy_fn(model, batch_size=int(config.train.eval_batch_size),
                                   batch_sharding=shardings.batch,
                                   replicated=shardings.replicated)
  return evaluate_accuracy(count_correct, variables,
                           put_replicated(data.test_images, shardings.replicated),
                           put_replicated(data.test_labels.astype(np.int32),
                                          shardings.replicated))


def grid_on_all_and_one_device(config, workdir) -> tuple[float, list[int]]:
  """max |difference| of the grid engine's probs and logit spreads on all devices versus
  one, for 3 images (the chunks are padded to the devices)."""
  model = models.build_model(**config.model)
  tree, _ = checkpointing.load_latest(workdir)
  variables = model_variables(tree["params"], tree.get("batch_stats"))
  data = load_cifar10(config.data)
  images, labels = data.test_images[:3], data.test_labels[:3]
  protocol = protocols.build_protocol("embed_shift", sizes=(29, 30), sample_pairs=3)
  results = [grid.evaluate_grid(make_predict_fn(model), variables, images, labels, protocol,
                                shardings=shardings, seed=1)
             for shardings in (make_data_parallel_mesh(), make_data_parallel_mesh(
                 jax.devices()[:1]))]
  return (float(max(np.abs(results[0].probs - results[1].probs).max(),
                    np.abs(results[0].logit_spread - results[1].logit_spread).max())),
          list(results[0].probs.shape))


def attack_on_all_and_one_device(config, workdir) -> tuple[float, bool]:
  """(max |worst loss (all devices) - (one device)|, whether every image's verdicts agree) of
  a small shift attack (a half-pixel grid within half a pixel, 1 + 1 starts, 2 steps) on 3
  images: 3 x 2 ascent inputs, padded to the devices."""
  model = models.build_model(**config.model)
  tree, _ = checkpointing.load_latest(workdir)
  variables = model_variables(tree["params"], tree.get("batch_stats"))
  data = load_cifar10(config.data)
  images, labels = data.test_images[:3], data.test_labels[:3]
  protocol = protocols.build_protocol("shift_attack", grid_step=0.5, max_shift=0.5,
                                      grid_starts=1, random_starts=1, steps=2)
  results = [attack.run_attack(make_predict_fn(model), variables, images, labels, protocol,
                               shardings=shardings, seed=1)
             for shardings in (make_data_parallel_mesh(), make_data_parallel_mesh(
                 jax.devices()[:1]))]
  return (float(np.abs(results[0].worst_margin - results[1].worst_margin).max()),
          bool(np.array_equal(results[0].correct, results[1].correct)
               and np.array_equal(results[0].stable, results[1].stable)))


def batch_error(config, workdir) -> str:
  """train_and_evaluate's error for `config` with a training batch of 12, which does not
  divide over 8 devices (raised before any compilation), or '' if it ran."""
  config.train.batch_size = 12
  try:
    train_and_evaluate(config, workdir)
  except UserError as error:
    return f"{type(error).__name__}: {error}"
  return ""


def main():
  out_dir = sys.argv[1]
  found, checked, models_run, last = {}, [], set(), None
  for index, spec in enumerate(config_specs()):
    config = load_config_file(spec)
    if "base" in config:  # a sweep: every member starts; its base run config runs
      for member in expand_sweep(config):
        check_starts(member.config)
      config = config.base
    check_starts(config)
    checked.append(os.path.relpath(spec, ROOT))
    if config.model.name in models_run:
      continue
    models_run.add(config.model.name)
    tiny(config)
    workdir = os.path.join(out_dir, str(index))
    last = (config, workdir)
    summary = train_and_evaluate(config, workdir)
    found[os.path.relpath(spec, ROOT)] = {
        "model": config.model.name, "devices": summary["num_devices"],
        "accuracy": summary["final_test_accuracy"],
        "accuracy_one_device": one_device_accuracy(config, workdir)}
  refused = batch_error(tiny(load_config_file(config_specs()[0])),
                        os.path.join(out_dir, "batch_12"))
  difference, shape = grid_on_all_and_one_device(*last)
  attack_difference, same_verdicts = attack_on_all_and_one_device(*last)
  print(json.dumps({"devices": jax.device_count(), "checked": checked, "configs": found,
                    "grid_max_difference": difference, "grid_shape": shape,
                    "attack_max_difference": attack_difference,
                    "attack_same_verdicts": same_verdicts, "batch_12_error": refused}))


if __name__ == "__main__":
  main()
