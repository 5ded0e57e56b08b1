"""XLA's operation count of a train step: the zoo model beside its plain Flax version.

For each model, the project's update function (forward, cross-entropy, backward, SGD +
Nesterov with the default config's optimiser; benchmarks/step_timing.py) around the
registered zoo model and around the same network in plain Flax (benchmarks/plain_flax_models.py)
is compiled for one batch, and XLA's cost analysis of the compiled step is printed: GFLOP
and GB accessed per step. Unlike a timing, these do not move with the machine's load, so
they show where two implementations of the same network do different work.

  python -m benchmarks.step_cost_analysis --models=vit,cct --width=48
"""
from __future__ import annotations

import sys

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

import models
from benchmarks.plain_flax_models import PLAIN_MODELS
from configs import default as default_config
from data.constants import IMAGE_SHAPE
from training.optim import build_optimizer
from training.state import TrainState
from training.steps import make_update_fn

_MODELS = flags.DEFINE_list("models", ["vit", "cct"],
                            f"Models: any of {', '.join(PLAIN_MODELS)}.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size of a train step.")
_WIDTH = flags.DEFINE_integer("width", 48, "Width of every model (0 = each model's default).")

_NUM_CLASSES = 10
_GIGA = 1e9


def step_cost(module, batch: int) -> tuple[float, float]:
  """(GFLOP, GB accessed) of one compiled update step of `module` on a (batch, 32, 32, 3)
  float32 batch, by XLA's cost analysis."""
  tx, _ = build_optimizer(default_config.get_config().train, total_steps=1000,
                          steps_per_epoch=100)
  inputs = jnp.zeros((batch, *IMAGE_SHAPE), jnp.float32)
  labels = jnp.zeros((batch,), jnp.int32)
  state = TrainState.create(module.init(jax.random.key(0), inputs[:1], train=False), tx)
  update = make_update_fn(module, tx, num_classes=_NUM_CLASSES, label_smoothing=0.0)
  cost = jax.jit(update).lower(state, inputs, labels).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", np.nan)) / _GIGA, float(cost.get("bytes accessed",
                                                                  np.nan)) / _GIGA


def main(argv):
  del argv
  unknown = sorted(set(_MODELS.value) - set(PLAIN_MODELS))
  if unknown:
    sys.exit(f"--models: unknown {', '.join(unknown)}; valid: {', '.join(PLAIN_MODELS)}")
  width = _WIDTH.value or None
  print(f"device: {jax.devices()[0].device_kind}; jax {jax.__version__}; batch "
        f"{_BATCH.value}; width {width or 'model default'}; per train step")
  print(f"{'model':<18}{'implementation':<16}{'GFLOP':>10}{'GB accessed':>14}")
  for name in _MODELS.value:
    options = {"width": width} if width else {}
    for label, module in (("project", models.build_model(name, **options)),
                          ("plain_flax", PLAIN_MODELS[name](width, jnp.float32))):
      gflop, gbytes = step_cost(module, _BATCH.value)
      print(f"{name:<18}{label:<16}{gflop:>10.3f}{gbytes:>14.3f}", flush=True)


if __name__ == "__main__":
  app.run(main)
