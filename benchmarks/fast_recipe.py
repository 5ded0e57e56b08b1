"""Epochs to a target test accuracy: the fast recipe (configs/fast.py) against the default.

For each recipe, runs of different lengths (a ladder of epoch counts, each run with its
whole schedule fitted to its length, as a user would run it) are trained from scratch and
tested at their end; the search walks the ladder from --start_epochs up until a run reaches
--target, or down while runs still reach it. A recipe's result is the fewest epochs on the
ladder whose run reached the target; the ratio default / fast of those counts is the
speed-up in epochs, a hardware-independent measure (an epoch costs the same in both recipes:
Lookahead and alternating flips add no forward or backward pass).

  CIFAR10_DIR=../shared/data/cifar10-jpeg nice -n 10 python -m benchmarks.fast_recipe \\
      --model=resnet20 --width=8 --train_subset=10000 --target=0.5

Every run trains in WORKDIR/<recipe>/epochs=<E>/ (an ordinary run workdir): rerunning the
command reuses finished runs, so a ladder can be extended or more recipes added later.
Recipes: 'default' (the base config), 'fast' (configs/fast.py's FAST_PARTS), and either
with parts added or removed: 'default+alternating_flip' (one part alone), 'fast-lookahead'
(the recipe without one part).
Between rungs, the epochs at which the target is reached are also read by linear
interpolation between the longest run below the target and the next one ('interpolated').
One seed, one test subset: a single run's test accuracy on 2000 images has a standard
error of about 0.011 near 0.5, so a result one ladder rung apart is within noise.
"""
from __future__ import annotations

import dataclasses
import json
import os
from absl import app, flags
import ml_collections

from common.entry_point import start_entry_point
from configs import alexnet, default, fast
from training.train_loop import train

_MODEL = flags.DEFINE_string("model", "resnet20", "Model name (resnet20, resnet18, alexnet, "
                             "alexnet_nostride): the base config is configs/default.py for "
                             "ResNets, configs/alexnet.py for the AlexNet-style nets.")
_WIDTH = flags.DEFINE_integer("width", 8, "Model width.")
_TRAIN_SUBSET = flags.DEFINE_integer("train_subset", 10000, "Training images (class-balanced "
                                     "prefix; 0 = all 50000).")
_TEST_SUBSET = flags.DEFINE_integer("test_subset", 2000, "Test images for the accuracy.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size of every recipe (learning rates "
                              "scaled linearly from each recipe's own batch).")
_TARGET = flags.DEFINE_float("target", 0.5, "Target test accuracy.")
_RECIPES = flags.DEFINE_list("recipes", ["default", "fast"], "Recipes: default, fast, and "
                             "either with +part / -part (parse_recipe; parts: configs/fast.py "
                             "PARTS), e.g. fast-lookahead,default+alternating_flip.")
_LADDER = flags.DEFINE_list("epochs", ["1", "2", "3", "4", "6", "8", "12"],
                            "The ladder of run lengths, in epochs.")
_START = flags.DEFINE_float("start_epochs", 4, "The rung the search starts from.")
_WORKDIR = flags.DEFINE_string("workdir", "runs/fast_recipe", "Where the runs go.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "CIFAR-10 directory (default: "
                                "$CIFAR10_DIR, else TFDS).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of every run.")
_SYNTHETIC = flags.DEFINE_bool("synthetic", False, "Synthetic data (a smoke test of this "
                               "benchmark, not a measurement).")


def parse_recipe(recipe: str) -> tuple[str, ...]:
  """The configs/fast.py PARTS of a recipe name, in PARTS order.

  'default': none; 'fast': fast.FAST_PARTS; then '+part' adds and '-part' removes one, e.g.
  'default+lookahead' (one part alone) or 'fast-lookahead' (the recipe without it).

  Raises:
    ValueError: a name of another form or an unknown part (the message lists them).
  """
  import re  # pylint: disable=g-import-not-at-top
  tokens = re.split(r"([+-])", recipe)
  start = {"default": (), "fast": tuple(fast.FAST_PARTS)}
  if tokens[0] not in start or len(tokens) % 2 == 0:
    raise ValueError(f"recipe {recipe!r}: 'default' or 'fast', then +part or -part; parts: "
                     f"{', '.join(fast.PARTS)}")
  parts = set(start[tokens[0]])
  for sign, part in zip(tokens[1::2], tokens[2::2]):
    if part not in fast.PARTS:
      raise ValueError(f"recipe {recipe!r}: unknown part {part!r}; parts: "
                       f"{', '.join(fast.PARTS)}")
    parts = parts | {part} if sign == "+" else parts - {part}
  return tuple(name for name in fast.PARTS if name in parts)


def base_config(model: str) -> ml_collections.ConfigDict:
  """configs/default.py (ResNets) or configs/alexnet.py (AlexNet-style), model set."""
  config = default.get_config() if model.startswith("resnet") else alexnet.get_config()
  config.model.name = model
  return config


def recipe_config(recipe: str, epochs: float) -> ml_collections.ConfigDict:
  """The run config of `recipe` at this benchmark's scale, trained for `epochs`."""
  config = fast.apply_parts(base_config(_MODEL.value), parse_recipe(recipe))
  fast.set_batch_size(config, _BATCH.value)
  config.model.width = _WIDTH.value
  config.seed = _SEED.value
  if _SYNTHETIC.value:
    config.data.source = "synthetic"
    config.data.synthetic_train_size = _TRAIN_SUBSET.value or 512
    config.data.synthetic_test_size = _TEST_SUBSET.value or 128
  else:
    config.data.dir = _DATA_DIR.value or os.environ.get("CIFAR10_DIR") or None
    config.data.train_subset = _TRAIN_SUBSET.value
    config.data.test_subset = _TEST_SUBSET.value
  config.train.num_epochs = float(epochs)
  config.train.num_steps = 0
  config.train.eval_every_epochs = 10**6  # test accuracy at the end only
  config.train.log_every_steps = 50
  config.train.checkpoint_every_steps = 10**9  # at the end only
  config.train.keep_checkpoints = 1
  config.eval.run_after_training = False
  return config


@dataclasses.dataclass
class Rung:
  epochs: float
  accuracy: float
  seconds: float


def run_rung(recipe: str, epochs: float) -> Rung:
  """Trains (or reuses) the run of `recipe` for `epochs`; its final test accuracy."""
  workdir = os.path.join(_WORKDIR.value, recipe, f"epochs={epochs:g}")
  summary = train(recipe_config(recipe, epochs), workdir)
  return Rung(epochs, float(summary["final_test_accuracy"]), float(summary["wall_time_sec"]))


def epochs_to_target(recipe: str, ladder: list[float]) -> tuple[float | None, list[Rung]]:
  """Walks the ladder (module docstring); returns (fewest epochs reaching the target or
  None, every rung run)."""
  index = min(range(len(ladder)), key=lambda i: abs(ladder[i] - _START.value))
  rungs = {}

  def hit(i):
    if i not in rungs:
      rungs[i] = run_rung(recipe, ladder[i])
      print(f"{recipe}: {ladder[i]:g} epochs -> test accuracy {rungs[i].accuracy:.4f}",
            flush=True)
    return rungs[i].accuracy >= _TARGET.value

  if hit(index):
    while index > 0 and hit(index - 1):
      index -= 1
    best = ladder[index]
  else:
    while index + 1 < len(ladder) and not hit(index + 1):
      index += 1
    best = ladder[index + 1] if index + 1 < len(ladder) else None
  return best, [rungs[i] for i in sorted(rungs)]


def interpolated_epochs(rungs: list[Rung], target: float) -> float | None:
  """Epochs at which the accuracy reaches `target`, linearly interpolated between the
  longest run below it and the next run (a rough reading between rungs; None if no run
  reached the target, the shortest run if it did)."""
  ordered = sorted(rungs, key=lambda rung: rung.epochs)
  for below, above in zip(ordered, ordered[1:]):
    if below.accuracy < target <= above.accuracy:
      fraction = (target - below.accuracy) / (above.accuracy - below.accuracy)
      return below.epochs + fraction * (above.epochs - below.epochs)
  if ordered and ordered[0].accuracy >= target:
    return ordered[0].epochs
  return None


def main(argv):
  start_entry_point(argv)  # quiet library INFO logs
  ladder = sorted(float(e) for e in _LADDER.value)
  for recipe in _RECIPES.value:
    recipe_config(recipe, ladder[0])  # unknown names fail before anything trains
  results = {}
  for recipe in _RECIPES.value:
    best, rungs = epochs_to_target(recipe, ladder)
    results[recipe] = {"epochs_to_target": best,
                       "interpolated": interpolated_epochs(rungs, _TARGET.value),
                       "rungs": [dataclasses.asdict(rung) for rung in rungs]}
  os.makedirs(_WORKDIR.value, exist_ok=True)
  with open(os.path.join(_WORKDIR.value, "results.json"), "w") as f:
    json.dump({"model": _MODEL.value, "width": _WIDTH.value, "train_subset": _TRAIN_SUBSET.value,
               "test_subset": _TEST_SUBSET.value, "batch_size": _BATCH.value,
               "target": _TARGET.value, "results": results}, f, indent=2)
  reference = results.get("default", {}).get("epochs_to_target")
  reference_between = results.get("default", {}).get("interpolated")
  print(f"\n{_MODEL.value} width {_WIDTH.value}, {_TRAIN_SUBSET.value or 50000} training images, "
        f"batch {_BATCH.value}, target test accuracy {_TARGET.value} on {_TEST_SUBSET.value} "
        "test images")
  print("| recipe | epochs to target | default / recipe | interpolated | default / recipe "
        "| runs (epochs: test accuracy) |")
  print("|---|---|---|---|---|---|")
  for recipe, result in results.items():
    best, between = result["epochs_to_target"], result["interpolated"]
    ratio = f"{reference / best:.2f}" if reference and best else "-"
    ratio_between = (f"{reference_between / between:.2f}" if reference_between and between
                     else "-")
    runs = ", ".join(f"{r['epochs']:g}: {r['accuracy']:.4f}" for r in result["rungs"])
    print(f"| {recipe} | {'> ladder' if best is None else f'{best:g}'} | {ratio} | "
          f"{'-' if between is None else f'{between:.2f}'} | {ratio_between} | {runs} |")


if __name__ == "__main__":
  app.run(main)
