"""The fast recipe: what reaches a target test accuracy in the fewest epochs, on any model.

  python train.py --config configs/fast.py --workdir runs/fast                  # ResNet-20
  python train.py --config configs/fast.py:resnet18 --workdir runs/fast_r18     # ResNet-18
  python train.py --config configs/fast.py:alexnet --workdir runs/fast_alexnet
The argument names the config the recipe starts from (FAST_BASES); `apply_fast_recipe` turns
any run config into its fast version (sweeps/paper_scale.py applies it to the sweeps). Only
training changes: the model, the evaluation and the invariance protocols are the base
config's (no test-time augmentation), and flips stay flips.

The recipe is the parts of FAST_PARTS, changes to the training config measured together on
CPU at a reduced scale as epochs to a target accuracy (benchmarks/fast_recipe.py; the
numbers and the commands are in docs/performance.md): there they tie with the default
recipe within noise, and Lookahead, also tried, hurt. PARTS holds every part, kept or not. Beyond its parts, the recipe sets the run's length (FAST_EPOCHS) and, per model,
the batch (FAST_BATCH, learning rate scaled linearly: `set_batch_size`); neither is measured
here. GPU times: not measured yet.
"""
from __future__ import annotations

from typing import Callable

import ml_collections

from configs import alexnet, default, nostride, resnet18

# Base configs the recipe can start from (get_config's argument).
FAST_BASES = {"": default, "resnet20": default, "resnet18": resnet18, "alexnet": alexnet,
              "nostride": nostride}


def _label_smoothing(config):
  """Cross-entropy against smoothed targets, 0.2 (airbench's value)."""
  config.train.label_smoothing = 0.2


def _alternating_flip(config):
  """airbench's derandomised flip (augment/flip.py) instead of random flips."""
  policies = [name.strip() for name in config.augment.policies.split(",")]
  config.augment.policies = ",".join("alternating_flip" if name == "flip" else name
                                     for name in policies if name)


def _lookahead(config):
  """Lookahead around the optimiser: every 5 steps, half way (training/optim.py)."""
  config.train.lookahead.sync_period = 5
  config.train.lookahead.slow_step_size = 0.5


def _onecycle(config):
  """Linear warm-up over half an epoch, then linear decay to 0 (instead of cosine)."""
  config.train.schedule = "onecycle"
  config.train.warmup_epochs = 0.5


def _short_warmup(config):
  """The base's schedule with a warm-up of a quarter epoch instead of the base's."""
  config.train.warmup_epochs = 0.25


def _double_rate(config):
  """Twice the base's peak learning rate."""
  config.train.learning_rate *= 2.0


# Every part tried (name -> change of a run config, in place); FAST_PARTS: those kept.
PARTS: dict[str, Callable[[ml_collections.ConfigDict], None]] = {
    "label_smoothing": _label_smoothing,
    "alternating_flip": _alternating_flip,
    "lookahead": _lookahead,
    "onecycle": _onecycle,
    "short_warmup": _short_warmup,
    "double_rate": _double_rate,
}
# What was measured as `fast` (docs/performance.md): at the reduced CPU scale it reaches the
# targets in as many epochs as the default, within the noise of single runs (interpolated
# ratios 1.02 for ResNet-20, 1.04 for the AlexNet-style net); Lookahead is not kept: it
# cost 3.3 points at 4 epochs.
FAST_PARTS = ("label_smoothing", "alternating_flip", "onecycle", "double_rate")
# Length per model name; others: EPOCH_FRACTION of the base config's.
FAST_EPOCHS = {"resnet18": 15.0}
EPOCH_FRACTION = 0.5
# Batch per model name (set_batch_size: the learning rate scaled linearly); others keep the
# base's. 512 fills an accelerator better than ResNet-18's 256; unmeasured as yet.
FAST_BATCH = {"resnet18": 512}


def set_batch_size(config: ml_collections.ConfigDict, batch_size: int) -> ml_collections.ConfigDict:
  """Sets config.train.batch_size, scaling the learning rate linearly with it (in place)."""
  config.train.learning_rate *= batch_size / config.train.batch_size
  config.train.batch_size = int(batch_size)
  return config


def apply_parts(config: ml_collections.ConfigDict, parts) -> ml_collections.ConfigDict:
  """Applies the named PARTS to `config` in place, in PARTS order.

  Raises:
    ValueError: an unknown part (the message lists the valid ones).
  """
  unknown = sorted(set(parts) - set(PARTS))
  if unknown:
    raise ValueError(f"unknown fast-recipe part(s) {', '.join(unknown)}; valid: "
                     f"{', '.join(PARTS)}")
  for name, change in PARTS.items():
    if name in parts:
      change(config)
  return config


def apply_fast_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Turns a run config into its fast version, in place (training fields only)."""
  apply_parts(config, FAST_PARTS)
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
