"""Why the alias-free convnet needs its residual-block options: a short training per variant.

Trains ResNet-20 with the trainable polynomial activation (nonlinearity='afc_poly', ideal
downsampling, circular padding) on synthetic CIFAR-shaped data (data/synthetic.py: class-
coloured oriented stripes + noise) with the real train step (training.steps.make_update_fn)
and the default recipe's optimiser (SGD, Nesterov momentum 0.9, weight decay 5e-4 on
kernels, cosine schedule without warm-up), once per variant of the two block options of
models/resnet.py:
  he            activation_after_sum=True,  zero_init_residual=False (He et al.'s block)
  zero_init     activation_after_sum=True,  zero_init_residual=True
  branch_act    activation_after_sum=False, zero_init_residual=False
  afc           activation_after_sum=False, zero_init_residual=True  (models.afc_options)
  relu_stride   the plain strided ReLU ResNet-20, for reference
Prints, per variant: the largest activation at initialisation (one train-mode forward pass),
the loss of the first step and the mean of the last five (nan once a step was non-finite),
the step of the first non-finite loss or gradient (that update and every later one is
skipped, as in training, which then stops), and the evaluation-mode accuracy on held-out
synthetic images.

  python -m experiments.afc_stability                 # 30 steps of 128, width 8
  python -m experiments.afc_stability --variants=he,afc --steps=60
"""
from __future__ import annotations

import sys

from absl import app, flags
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

import models
from configs import default
from data.normalize import normalize
from data.synthetic import balanced_labels, generate_split
from training.optim import build_optimizer
from training.state import TrainState
from training.steps import make_update_fn

VARIANTS = {
    "he": dict(nonlinearity="afc_poly", activation_after_sum=True, zero_init_residual=False),
    "zero_init": dict(nonlinearity="afc_poly", activation_after_sum=True,
                      zero_init_residual=True),
    "branch_act": dict(nonlinearity="afc_poly", activation_after_sum=False,
                       zero_init_residual=False),
    "afc": dict(nonlinearity="afc_poly", activation_after_sum=False, zero_init_residual=True),
    "relu_stride": dict(downsample="stride"),
    # The beyond-BlurPool sweep's afc ablation members (configs/sweeps/beyond_blurpool.py).
    "stride_afc_blocks": dict(downsample="stride", activation_after_sum=False,
                              zero_init_residual=True),
    "afc_poly_stride": dict(downsample="stride", nonlinearity="afc_poly",
                            activation_after_sum=False, zero_init_residual=True),
}
_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS), "Variants: " + ", ".join(VARIANTS))
_STEPS = flags.DEFINE_integer("steps", 30, "Training steps.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size.")
_WIDTH = flags.DEFINE_integer("width", 8, "ResNet-20 width.")
_LR = flags.DEFINE_float("learning_rate", 0.1, "Peak learning rate.")
_TRAIN_IMAGES = flags.DEFINE_integer("train_images", 512, "Synthetic training images.")
_TEST_IMAGES = flags.DEFINE_integer("test_images", 500, "Synthetic held-out images.")
NUM_CLASSES = 10


def synthetic(count: int, seed: int) -> tuple[jnp.ndarray, jnp.ndarray]:
  """(normalised float32 images (count, 32, 32, 3), int32 labels (count,))."""
  rng = np.random.default_rng(seed)
  labels = balanced_labels(count, NUM_CLASSES, rng)
  images = generate_split(labels, NUM_CLASSES, rng)
  return normalize(jnp.asarray(images, jnp.float32)), jnp.asarray(labels, jnp.int32)


def largest_activation(model, variables, images) -> float:
  """max |output| of every 'act*' nonlinearity (train-mode BatchNorm) on `images`; nan for
  a model whose nonlinearities are plain functions (not captured: a ReLU)."""
  _, state = model.apply(variables, images, train=True, capture_intermediates=True,
                         mutable=["intermediates", "batch_stats"])
  largest = [float("nan")]

  def walk(tree, path):
    for key, value in tree.items():
      if key == "__call__" and "act" in path[-1]:
        value = float(jnp.max(jnp.abs(value[0])))
        largest[0] = value if np.isnan(largest[0]) else max(largest[0], value)
      elif isinstance(value, dict):
        walk(value, path + (key,))

  walk(state["intermediates"], ("",))
  return largest[0]


def run(variant: str, train, test) -> dict:
  """Trains one variant; returns its row of the printed table."""
  options = {**dict(width=_WIDTH.value, padding="circular", downsample="ideal_pool"),
             **VARIANTS[variant]}
  model = models.build_model("resnet20", **options)
  images, labels = train
  variables = jax.jit(lambda key: model.init(key, images[:1], train=False))(
      jax.random.PRNGKey(0))
  recipe = ml_collections.ConfigDict(default.get_config().train.to_dict())
  recipe.learning_rate, recipe.warmup_epochs = _LR.value, 0.0
  tx, _ = build_optimizer(recipe, total_steps=_STEPS.value, steps_per_epoch=1)
  state = TrainState.create(variables, tx)
  update = jax.jit(make_update_fn(model, tx, num_classes=NUM_CLASSES, label_smoothing=0.0))
  batch = _BATCH.value
  losses = []
  for step in range(_STEPS.value):
    start = (step * batch) % (len(labels) - batch + 1)
    before = float(state.loss_sum)
    state = update(state, images[start:start + batch], labels[start:start + batch])
    losses.append((float(state.loss_sum) - before) / batch)
  evaluate = jax.jit(lambda v, x: model.apply(v, x, train=False))
  logits = evaluate({"params": state.params, "batch_stats": state.batch_stats}, test[0])
  bad = int(state.bad_step)
  return dict(largest=largest_activation(model, variables, images[:batch]),
              first=losses[0], last=float(np.mean(losses[-5:])) if bad < 0 else float("nan"),
              bad="-" if bad < 0 else str(bad),
              accuracy=float(jnp.mean(jnp.argmax(logits, -1) == test[1])))


def main(argv):
  del argv
  unknown = [v for v in _VARIANTS.value if v not in VARIANTS]
  if unknown:
    sys.exit(f"error: unknown variant {', '.join(unknown)}; valid: {', '.join(VARIANTS)}")
  train, test = synthetic(_TRAIN_IMAGES.value, 0), synthetic(_TEST_IMAGES.value, 1)
  print(f"ResNet-20 width {_WIDTH.value}, {_STEPS.value} steps of {_BATCH.value}, lr "
        f"{_LR.value}, {_TRAIN_IMAGES.value} synthetic training images")
  print(f"{'variant':<12}{'max |act| at init':>18}{'first loss':>12}{'last loss':>12}"
        f"{'bad step':>10}{'eval acc':>10}")
  for variant in _VARIANTS.value:
    r = run(variant, train, test)
    print(f"{variant:<12}{r['largest']:>18.3g}{r['first']:>12.4g}{r['last']:>12.4g}"
          f"{r['bad']:>10}{r['accuracy']:>10.3f}", flush=True)


if __name__ == "__main__":
  app.run(main)
