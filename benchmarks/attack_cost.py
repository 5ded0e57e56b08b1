"""Cost of the sub-pixel adversary per image against the full circular-shift grid, one model.

  python -m benchmarks.attack_cost                      # beyond_blurpool:cpu_seeds, stride
  python -m benchmarks.attack_cost --member=afc --num_images=8

Builds the model of one member of configs/sweeps/beyond_blurpool.py:cpu_seeds (random weights:
the cost does not depend on them), then times, on the same random images, the sweep's
shift_attack protocol (evaluate.attack.run_attack) and its circular protocol (every one of the
1024 rolls, evaluate.grid.evaluate_grid), each once untimed (compilation), then timed; prints
seconds per image of each and their ratio (the attack holds that grid as its grid phase, plus
the descent's forward passes and gradients).
"""
from __future__ import annotations

import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

import models
from common.config_files import load_config_file
from data.constants import IMAGE_SHAPE
from evaluate import attack, grid, protocols
from runtime.accuracy import make_predict_fn
from sweeps import expand_sweep

_MEMBER = flags.DEFINE_string("member", "stride", "Member label of the beyond_blurpool sweep.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 4, "Images timed.")


def _seconds(fn) -> float:
  fn()  # compile, untimed
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def main(argv):
  del argv
  sweep = load_config_file("configs/sweeps/beyond_blurpool.py:cpu_seeds")
  member = next(m for m in expand_sweep(sweep) if m.group == _MEMBER.value)
  config = member.config
  model = models.build_model(**config.model)
  variables = model.init(jax.random.key(0), jnp.zeros((1, *IMAGE_SHAPE)), train=False)
  predict = make_predict_fn(model)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (_NUM_IMAGES.value, *IMAGE_SHAPE), dtype=np.uint8)
  labels = rng.integers(0, 10, _NUM_IMAGES.value).astype(np.int32)
  entries = config.eval.protocols
  build = lambda name: protocols.build_protocol_from_config({  # noqa: E731
      k: v for k, v in entries[name].to_dict().items() if k != "num_images"})
  adversary, circular = build("shift_attack"), build("circular")
  attack_s = _seconds(lambda: attack.run_attack(predict, variables, images, labels, adversary))
  grid_s = _seconds(lambda: jax.block_until_ready(
      grid.evaluate_grid(predict, variables, images, labels, circular).probs))
  count = _NUM_IMAGES.value
  print(f"member {member.name}, {count} images, {jax.device_count()} {jax.default_backend()} "
        f"device(s): shift_attack {attack_s / count:.3f} s/image, circular (1024 rolls) "
        f"{grid_s / count:.3f} s/image, ratio {attack_s / grid_s:.2f}")


if __name__ == "__main__":
  app.run(main)
