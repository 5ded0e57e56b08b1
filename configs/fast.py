"""The fast recipe: what reaches a target test accuracy in the fewest epochs, on any model.

  python train.py --config configs/fast.py --workdir runs/fast                  # ResNet-20
  python train.py --config configs/fast.py:resnet18 --workdir runs/fast_r18     # ResNet-18
  python train.py --config configs/fast.py:alexnet --workdir runs/fast_alexnet
The argument names the config the recipe starts from (FAST_BASES); `apply_fast_recipe` turns
any run config into its fast version (the sweeps of scripts/paper_scale.py use it). Only
training changes: model, evaluation and the invariance protocols are the base config's (no
test-time augmentation), and the flips are still flips (a change of order, not of content).
What it changes, each measured on CPU at a reduced scale (benchmarks/fast_recipe.py; the
numbers and the command are in docs/performance.md):
  label smoothing 0.2;
  alternating flips (airbench's derandomised flip, augment/flip.py) instead of random flips;
  Lookahead around SGD + Nesterov (every 5 steps, half way; training/optim.py);
  a one-cycle schedule (linear warm-up over a quarter epoch... see FAST_WARMUP_EPOCHS, then
  linear decay to 0) at LR_MULTIPLIER times the base's peak rate.
Fewer epochs than the base (FAST_EPOCHS); `set_batch_size` changes the batch with the
learning rate scaled linearly (the linear-scaling rule, not measured here beyond batch 128).
GPU times: not measured yet.
"""
from __future__ import annotations

import ml_collections

from configs import alexnet, default, nostride, resnet18

# Base configs the recipe can start from (get_config's argument).
FAST_BASES = {"": default, "resnet20": default, "resnet18": resnet18, "alexnet": alexnet,
              "nostride": nostride}
FAST_LABEL_SMOOTHING = 0.2  # Cross-entropy against 0.9 + 0.1/10 targets (airbench: 0.2).
FAST_FLIPS = "alternating_flip"  # Replaces 'flip' in the base's policy list.
FAST_LOOKAHEAD_PERIOD = 5  # Lookahead sync period, in steps.
FAST_LOOKAHEAD_STEP = 0.5  # Fraction of the way the slow weights move at a sync.
FAST_SCHEDULE = "onecycle"  # Linear warm-up, then linear decay to 0.
FAST_WARMUP_EPOCHS = 0.5  # Length of the warm-up.
LR_MULTIPLIER = 2.0  # Peak learning rate, relative to the base config's.
FAST_EPOCHS = {"resnet18": 15.0}  # Length per model name; others: EPOCH_FRACTION of the base.
EPOCH_FRACTION = 0.5
# Batch per model name (set_batch_size: the learning rate scaled linearly); others keep
# the base's. 512 fills an accelerator better than ResNet-18's 256; unmeasured as yet.
FAST_BATCH = {"resnet18": 512}


def set_batch_size(config: ml_collections.ConfigDict, batch_size: int) -> ml_collections.ConfigDict:
  """Sets config.train.batch_size, scaling the learning rate linearly with it (in place)."""
  config.train.learning_rate *= batch_size / config.train.batch_size
  config.train.batch_size = int(batch_size)
  return config


def apply_fast_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Turns a run config into its fast version, in place (training fields only)."""
  policies = [name.strip() for name in config.augment.policies.split(",")]
  config.augment.policies = ",".join(FAST_FLIPS if name == "flip" else name
                                     for name in policies if name)
  config.train.label_smoothing = FAST_LABEL_SMOOTHING
  config.train.lookahead.sync_period = FAST_LOOKAHEAD_PERIOD
  config.train.lookahead.slow_step_size = FAST_LOOKAHEAD_STEP
  config.train.schedule = FAST_SCHEDULE
  config.train.warmup_epochs = FAST_WARMUP_EPOCHS
  config.train.learning_rate *= LR_MULTIPLIER
  config.train.num_epochs = FAST_EPOCHS.get(config.model.name,
                                            config.train.num_epochs * EPOCH_FRACTION)
  if config.model.name in FAST_BATCH:
    set_batch_size(config, FAST_BATCH[config.model.name])
  return config


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  """arg: the base config, one of FAST_BASES ('' = configs/default.py, ResNet-20)."""
  if arg not in FAST_BASES:
    raise ValueError(f"configs/fast.py takes one of {', '.join(repr(k) for k in FAST_BASES)}, "
                     f"got {arg!r}")
  return apply_fast_recipe(FAST_BASES[arg].get_config())
