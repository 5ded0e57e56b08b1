"""BlurPool as strided slices (models/blurpool.py) versus as a depthwise convolution, same run.

For each model, times forward+backward (the gradient of the cross-entropy) of the BlurPool
network compiled twice: once with the separable strided-slice blur that the project uses,
once with the blur as a depthwise `conv_general_dilated` (how PyTorch antialiased-cnns and a
naive port do it). Blocks of steps alternate between the two, so the ratio
depthwise/separable is robust to machine noise. Both compute the same function (the
difference of their outputs is printed).

  python -m benchmarks.blurpool_speed                                  # CPU-sized defaults
  python -m benchmarks.blurpool_speed --width=0 --batch_size=512       # full widths (GPU)
"""
from __future__ import annotations

import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

import models
from data.constants import IMAGE_SHAPE
from models import blurpool

_MODELS = flags.DEFINE_list("models", ["alexnet", "resnet20"], "Models to time.")
_WIDTH = flags.DEFINE_integer("width", 8, "Model width option (0 = each model's default).")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size.")
_BLUR = flags.DEFINE_integer("blur_size", 5, "Binomial filter taps.")
_BLUR_PADDING = flags.DEFINE_string("blur_padding", "auto",
                                    "Padding of the blur: auto | reflect | zeros | circular.")
_STEPS = flags.DEFINE_integer("steps", 5, "Steps per timing block.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Alternating timing blocks per variant.")


def _compiled_grad(model, variables, images, labels, blur_fn):
  """jit(grad of the loss), traced while BlurPool uses `blur_fn`."""
  mutable = ["batch_stats"] if "batch_stats" in variables else False

  def loss(params):
    out = model.apply({**variables, "params": params}, images, train=True, mutable=mutable)
    logits = out[0] if mutable else out
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

  original = blurpool.separable_blur_subsample
  blurpool.separable_blur_subsample = blur_fn
  try:
    return jax.jit(jax.value_and_grad(loss)).lower(variables["params"]).compile()
  finally:
    blurpool.separable_blur_subsample = original


def _time_block(fn, params, steps):
  jax.block_until_ready(fn(params))
  start = time.perf_counter()
  for _ in range(steps):
    out = fn(params)
  jax.block_until_ready(out)
  return (time.perf_counter() - start) / steps


def benchmark_model(name: str) -> dict:
  options = dict(downsample="blurpool", blur_size=_BLUR.value, blur_padding=_BLUR_PADDING.value)
  if _WIDTH.value:
    options["width"] = _WIDTH.value
  model = models.build_model(name, **options)
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(_BATCH.value, *IMAGE_SHAPE)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 10, _BATCH.value), jnp.int32)
  variables = model.init(jax.random.key(0), images[:1], train=False)
  variants = {"separable": blurpool.separable_blur_subsample,
              "depthwise_conv": blurpool.depthwise_conv_blur_subsample}
  compiled = {key: _compiled_grad(model, variables, images, labels, fn)
              for key, fn in variants.items()}
  (loss_a, _), (loss_b, _) = (compiled[key](variables["params"]) for key in variants)
  times = {key: [] for key in variants}
  for _ in range(_REPEATS.value):
    for key, fn in compiled.items():
      times[key].append(_time_block(fn, variables["params"], _STEPS.value))
  best = {key: min(values) for key, values in times.items()}
  return {"model": name, "separable_ms": 1e3 * best["separable"],
          "depthwise_ms": 1e3 * best["depthwise_conv"],
          "ratio": best["depthwise_conv"] / best["separable"],
          "loss_difference": abs(float(loss_a) - float(loss_b))}


def main(argv):
  del argv
  print(f"{jax.devices()[0].platform}: batch {_BATCH.value}, width {_WIDTH.value or 'default'}, "
        f"blur_size {_BLUR.value}, blur_padding {_BLUR_PADDING.value}; best of {_REPEATS.value} blocks of {_STEPS.value} "
        "forward+backward steps")
  for name in _MODELS.value:
    r = benchmark_model(name)
    print(f"{r['model']:10s} separable {r['separable_ms']:8.1f} ms | depthwise conv "
          f"{r['depthwise_ms']:8.1f} ms | depthwise/separable {r['ratio']:.2f}x | "
          f"|loss difference| {r['loss_difference']:.1e}")


if __name__ == "__main__":
  app.run(main)
