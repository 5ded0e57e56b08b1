"""Throughput of the grid engine: vmap path vs Python loop vs a plain batched forward pass.

Prints images x grid points per second for, in one run and on the same model:
  vmap     evaluate.grid.evaluate_grid (transform + model vmapped over the grid, per chunk)
  loop     evaluate.grid.evaluate_grid_loop (one jitted forward pass per grid point, all images
           of a chunk in a batch)
  forward  the model's jitted forward pass + softmax on the same number (N x G) of
           already-transformed images, in batches of the vmap path's size (no transform)
and the ratios forward/vmap time (aim <= 1.25) and loop/vmap time (aim >= 3). Every path is
run once untimed (compilation), then timed `repeats` times; the best time is reported.

The model has random weights (throughput does not depend on the weights) and the images are
random uint8.

  python -m benchmarks.grid_eval                                  # CPU-sized defaults
  python -m benchmarks.grid_eval --num_images=1000 --width=64 --protocol=circular_shift
  python -m benchmarks.grid_eval --protocol=embed_shift --protocol_options='{"sizes": [16, 24]}'
"""
from __future__ import annotations

import json
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

import models
from data.constants import IMAGE_SHAPE
from evaluate import grid, protocols
from runtime.accuracy import make_predict_fn
from runtime.mesh import make_data_parallel_mesh

_MODEL = flags.DEFINE_string("model", "alexnet", "Registered model name.")
_WIDTH = flags.DEFINE_integer("width", 16, "Model width option (0 = the model's default).")
_PROTOCOL = flags.DEFINE_string("protocol", "crop_shift", "Registered protocol name.")
_OPTIONS = flags.DEFINE_string("protocol_options", "{}", "Protocol options as JSON.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 32, "Images N (each at every grid point).")
_CHUNK = flags.DEFINE_integer("images_per_chunk", 0, "Images per vmap chunk (0 = from bound).")
_MAX_BYTES = flags.DEFINE_integer("max_chunk_bytes", 2**30, "Memory bound of one chunk.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs per path (best is reported).")


def _best_time(fn, repeats):
  fn()  # compile, untimed
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return min(times)


def main(argv):
  del argv
  shardings = make_data_parallel_mesh()
  options = {"width": _WIDTH.value} if _WIDTH.value else {}
  model = models.build_model(_MODEL.value, **options)
  variables = model.init(jax.random.key(0), jnp.zeros((1, *IMAGE_SHAPE)), train=False)
  variables = jax.device_put(variables, shardings.replicated)
  predict = make_predict_fn(model)
  protocol = protocols.build_protocol(_PROTOCOL.value, **json.loads(_OPTIONS.value))
  rng = np.random.default_rng(0)
  num_images = _NUM_IMAGES.value
  images = rng.integers(0, 256, (num_images, *IMAGE_SHAPE), np.uint8)
  labels = rng.integers(0, 10, (num_images,), np.int32)
  points = grid.grid_size(protocol)
  common = dict(shardings=shardings, max_chunk_bytes=_MAX_BYTES.value)
  # The chunks as evaluate_grid sizes them (from the compiled program's memory report).
  chunking = grid.evaluate_grid(predict, variables, images, labels, protocol,
                                images_per_chunk=_CHUNK.value, **common).chunking
  plan = grid.ChunkPlan(chunking["images"], chunking["points"])

  def run_vmap():
    return grid.evaluate_grid(predict, variables, images, labels, protocol,
                              images_per_chunk=_CHUNK.value, **common).probs

  def run_loop():
    return grid.evaluate_grid_loop(predict, variables, images, labels, protocol,
                                   **common).probs

  batch = plan.inputs
  total = num_images * points
  flat = np.resize(images, (-(-total // batch) * batch, *IMAGE_SHAPE))
  batches = [jax.device_put(flat[i:i + batch], shardings.batch)
             for i in range(0, len(flat), batch)]
  forward = jax.jit(lambda v, x: jax.nn.softmax(predict(v, x.astype(jnp.float32)), -1))

  def run_forward():
    outputs = [forward(variables, x) for x in batches]
    return [np.asarray(out) for out in outputs]

  print(f"devices: {jax.device_count()} x {jax.devices()[0].platform}; model {_MODEL.value} "
        f"{options} (random weights); protocol {protocol.name} {protocol.options}")
  print(f"N = {num_images} images x G = {points} grid points = {total} model inputs; vmap "
        f"chunk = {plan.images} images x {plan.points} grid points ({batch} inputs per call, "
        f"{chunking['bytes_per_device'] / 2**20:.1f} MiB per device by the "
        f"{chunking['memory']} memory, bound {_MAX_BYTES.value / 2**20:.0f} MiB); "
        f"forward batch = {batch}")
  seconds = {"vmap": _best_time(run_vmap, _REPEATS.value),
             "loop": _best_time(run_loop, _REPEATS.value),
             "forward": _best_time(run_forward, _REPEATS.value)}
  for name, value in seconds.items():
    print(f"{name:8s} {total / value:12.1f} images x grid points / s   ({value:.3f} s)")
  print(f"vmap time / forward time = {seconds['vmap'] / seconds['forward']:.2f}  (aim <= 1.25)")
  print(f"loop time / vmap time    = {seconds['loop'] / seconds['vmap']:.2f}  (aim >= 3)")


if __name__ == "__main__":
  app.run(main)
