"""How exactly each downsampling strategy keeps a model's logits under circular shifts.

Random weights (He-normal kernels, random BatchNorm statistics, evaluation mode; for the
polynomial networks `alias_free_poly` and `afc` the BatchNorm statistics are measured on
other random images instead, since a polynomial network overflows with random ones:
models.random_weights.calibrate_batch_stats; for `afc` the residual branches are at 0.3 of
their random scale by default, --afc_branch_scale, models.random_weights.scale_residual_branches), circular padding, random
normal images of side --size. For each model and strategy, prints the largest change of the
logits relative to their largest magnitude, and whether the top-1 is the same, under
  integer     the circular shifts (dy, dx) for dy, dx in --shifts (both axes),
  half_bl     half-pixel Fourier shifts (0.5, 0), (0, 0.5), (0.5, 0.5), (3.5, 10.5) of
              band-limited images (Nyquist row and column removed),
  half_raw    the same shifts of the raw images (their Nyquist content cannot be shifted by
              a fraction of a pixel: only a network that ignores it, `afc`, can be exact).
Strategies: stride, blurpool, aps, lps; upsampled_relu ('ideal' downsampling + the upsampled
ReLU `alias_free_relu`, StyleGAN3-style); alias_free_poly ('ideal' + one fixed polynomial on
the x2 grid); afc (the alias-free convnet of Michaeli et al. 2023, models.afc_options).
Models without downsampling strategies (STRATEGY_FREE_MODELS: `afvit`, the alias-free ViT of
Michaeli & Soudry 2025, whose token grid always comes from the ideal low-pass) print one row
each, strategy '-', built with their own options (width --width, depth 2, one head; no
calibration: they have no BatchNorm); --strategies does not apply to them.
No training, no data: a property of the architectures (tests/test_polyphase.py and
tests/test_afc.py assert it). With --workdir, the same three measurements of a trained run
instead: its latest checkpoint, on its first --num_images test images (normalised as in
evaluation; --models, --strategies, --size and --width are then not used).

  python -m experiments.shift_exactness                       # 32 x 32, CPU-sized widths
  python -m experiments.shift_exactness --size=16 --models=resnet20
  python -m experiments.shift_exactness --models=resnet20 --strategies=alias_free_poly,afc
  python -m experiments.shift_exactness --strategies=aps,lps,afc --afc_branch_scale=1.0
  python -m experiments.shift_exactness --models=afvit        # one row
  python -m experiments.shift_exactness --workdir=runs/x --num_images=16
"""
from __future__ import annotations

import sys

from absl import app, flags
import jax.numpy as jnp
import numpy as np

import models
from common.fourier import fourier_shift
from data import load_cifar10
from data.normalize import normalize
from models.alias_free import band_limit
from models.random_weights import (calibrate_batch_stats, logits_by_group, random_variables,
                                   scale_residual_branches)
from runtime.checkpointing import restore_model_variables
from runtime.mesh import make_data_parallel_mesh
from runtime.run_config import load_checkpoint_config, run_data_config

_MODELS = flags.DEFINE_list("models", ["resnet20", "resnet18", "alexnet"],
                            "Models: a registered model with downsampling strategies (one row "
                            "per strategy), or one of STRATEGY_FREE_MODELS (one row).")
_STRATEGIES = flags.DEFINE_list("strategies",
                                ["stride", "aps", "lps", "upsampled_relu", "alias_free_poly",
                                 "afc"],
                                "stride | blurpool | aps | lps | upsampled_relu ('ideal' "
                                "downsampling + the upsampled ReLU alias_free_relu) | "
                                "alias_free_poly ('ideal' + alias_free_poly) | afc (the "
                                "alias-free convnet, models.afc_options).")
_SIZE = flags.DEFINE_integer("size", 32, "Image side (pixels).")
_SHIFTS = flags.DEFINE_list("shifts", ["0", "1", "2", "7", "16", "31"],
                            "Integer shifts per axis; every (dy, dx) pair is applied.")
_WIDTH = flags.DEFINE_integer("width", 4, "Model width option.")
_WORKDIR = flags.DEFINE_string("workdir", None, "A trained run to measure instead of random "
                               "weights (its latest checkpoint, on its test images).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 16, "With --workdir: test images measured.")
_BRANCH_SCALE = flags.DEFINE_float(
    "afc_branch_scale", 0.3, "Scale of afc's residual branches relative to their random "
    "initialisation (1.0: full random scale, where float rounding is amplified block by block).")

# strategy -> the model options it sets, as a function of the model's name.
STRATEGY_OPTIONS = {
    "stride": lambda name: dict(padding="circular", downsample="stride"),
    "blurpool": lambda name: dict(padding="circular", downsample="blurpool", blur_size=3),
    "aps": lambda name: dict(padding="circular", downsample="aps", blur_size=1),
    "lps": lambda name: dict(padding="circular", downsample="lps", blur_size=1),
    "upsampled_relu": lambda name: dict(padding="circular", downsample="ideal",
                                        nonlinearity="alias_free_relu"),
    "alias_free_poly": lambda name: dict(padding="circular", downsample="ideal",
                                         nonlinearity="alias_free_poly"),
    "afc": models.afc_options,
}
CALIBRATED = {"alias_free_poly", "afc"}  # strategies whose BatchNorm statistics are measured
BRANCH_SCALED = {"afc"}  # strategies whose residual branches are scaled (--afc_branch_scale)
HALF_SHIFTS = [(0.5, 0.0), (0.0, 0.5), (0.5, 0.5), (3.5, 10.5)]
# model -> its options as a function of --width, for models that take no `downsample`.
STRATEGY_FREE_MODELS = {
    "afvit": lambda width: dict(width=width, depth=2, num_heads=1, patch_size=4),
}
NO_STRATEGY = "-"  # the strategy cell of their rows


def measure(name: str, strategy: str, size: int, shifts) -> dict[str, tuple[float, bool]]:
  """{'integer'|'half_bl'|'half_raw': (relative logit change, same top-1 for all)};
  strategy NO_STRATEGY for STRATEGY_FREE_MODELS."""
  if strategy == NO_STRATEGY:
    options = STRATEGY_FREE_MODELS[name](_WIDTH.value)
  else:
    options = dict(width=_WIDTH.value, **STRATEGY_OPTIONS[strategy](name))
  if name.startswith("alexnet"):
    options["hidden_units"] = (16,)
  model = models.build_model(name, **options)
  variables = random_variables(model, (size, size, 3))
  if strategy in BRANCH_SCALED:
    variables = scale_residual_branches(variables, _BRANCH_SCALE.value)
  rng = np.random.default_rng(0)
  if strategy in CALIBRATED:
    calibration = jnp.asarray(np.random.default_rng(1).normal(size=(8, size, size, 3)),
                              jnp.float32)
    variables = calibrate_batch_stats(model, variables, calibration)
  x = jnp.asarray(rng.normal(size=(2, size, size, 3)), jnp.float32)
  raw = jnp.asarray(rng.normal(size=(2, size, size, 3)), jnp.float32)
  return changes(model, variables, x, raw, shifts)


def changes(model, variables, x, raw, shifts) -> dict[str, tuple[float, bool]]:
  """The three measurements (see `measure`) of `model` with `variables`: rolls `shifts` of
  images x, half-pixel shifts of band_limit(raw) and of raw, all (B, H, W, 3)."""
  smooth = band_limit(raw)
  parts = {
      "integer": [jnp.roll(x, s, axis=(1, 2)) for s in shifts],
      "half_bl": [smooth] + [fourier_shift(smooth, s, (1, 2)) for s in HALF_SHIFTS],
      "half_raw": [raw] + [fourier_shift(raw, s, (1, 2)) for s in HALF_SHIFTS],
  }
  result = {}
  for key, part in logits_by_group(model, variables, parts).items():
    change = float(np.max(np.abs(part - part[0])) / np.max(np.abs(part[0])))
    # Non-finite logits (a polynomial network overflowing) never count as the same top-1.
    same = bool(np.all(part.argmax(-1) == part[0].argmax(-1))) and np.isfinite(change)
    result[key] = (change, same)
  return result


def measure_run(workdir: str, num_images: int, shifts) -> dict[str, tuple[float, bool]]:
  """`changes` of a trained run's latest checkpoint on its first `num_images` test images."""
  run_config = load_checkpoint_config(workdir)
  model = models.build_model(**run_config.model)
  variables = restore_model_variables(workdir, model, make_data_parallel_mesh().replicated).state
  data = load_cifar10(run_data_config(run_config))
  images = normalize(jnp.asarray(data.test_images[:num_images], jnp.float32))
  return changes(model, variables, images, images, shifts)


def print_row(name: str, strategy: str, r: dict[str, tuple[float, bool]]) -> None:
  cells = "".join(f"{r[k][0]:>12.1e} {'y' if r[k][1] else 'n'}"
                  for k in ("integer", "half_bl", "half_raw"))
  print(f"{name:<10}{strategy:<16}{cells}", flush=True)


def main(argv):
  del argv
  if _WORKDIR.value:
    steps = [int(s) % 32 for s in _SHIFTS.value]
    shifts = [(dy, dx) for dy in steps for dx in steps]
    print(f"{_WORKDIR.value}: latest checkpoint, first {_NUM_IMAGES.value} test images, "
          f"{len(shifts)} integer shifts; relative logit change (same top-1: y/n)")
    print(f"{'model':<10}{'':<16}{'integer':>14}{'half_bl':>14}{'half_raw':>14}")
    run_config = load_checkpoint_config(_WORKDIR.value)
    print_row(run_config.model.name, "(trained)", measure_run(_WORKDIR.value,
                                                             _NUM_IMAGES.value, shifts))
    return
  unknown = [strategy for strategy in _STRATEGIES.value if strategy not in STRATEGY_OPTIONS]
  if unknown:
    sys.exit(f"error: unknown strategy {', '.join(unknown)}; valid: "
             f"{', '.join(STRATEGY_OPTIONS)}")
  rows = [(name, strategy) for name in _MODELS.value
          for strategy in row_strategies(name, _STRATEGIES.value)]
  size = _SIZE.value
  steps = [int(s) % size for s in _SHIFTS.value]
  shifts = [(dy, dx) for dy in steps for dx in steps]
  print(f"{size} x {size} inputs, width {_WIDTH.value}, {len(shifts)} integer shifts; relative "
        "logit change (same top-1 for every shift: y/n)")
  print(f"{'model':<10}{'strategy':<16}{'integer':>14}{'half_bl':>14}{'half_raw':>14}")
  for name, strategy in rows:
    print_row(name, strategy, measure(name, strategy, size, shifts))


def row_strategies(name: str, strategies: list[str]) -> list[str]:
  """The strategies of model `name`'s rows: [NO_STRATEGY] for STRATEGY_FREE_MODELS, else
  `strategies` (an unknown model name exits listing the valid ones)."""
  if name in STRATEGY_FREE_MODELS:
    return [NO_STRATEGY]
  if name not in models.MODELS:
    sys.exit(f"error: unknown model {name}; valid: {', '.join(models.MODELS.names())}")
  return strategies


if __name__ == "__main__":
  app.run(main)
