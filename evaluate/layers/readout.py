"""Readout by depth (Azulay & Weiss 2019, figure 4): how invariant is what each layer knows?

For every captured layer F of the frozen network, a linear readout (softmax regression) is fit
on its global-average-pooled features g = mean_hw F(x) (vectors as they are), standardised with
the training features' mean and standard deviation:

  logits_l = ((g_l - mean_l) / std_l) W_l + b_l,    optax.adamw, cross-entropy, a few epochs

on `train_images` training images. Each readout is then evaluated under the crop protocol with
the grid engine (evaluate/grid.py): one model run per grid point gives every layer's readout
logits, stacked (B, L, C) so that the engine's softmax over the last axis is per layer. From the
probabilities: P(top-1 change) and MAC between the protocol's one-pixel pairs, accuracy over the
grid (evaluate/metrics.py), and the readout's accuracy on the untransformed test images.

The paper's figure 4: readouts of early layers change their top-1 for under 5% of one-pixel
shifts, deeper ones increasingly often (ImageNet networks).
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from common.errors import ConfigError
from evaluate import grid as grid_engine
from evaluate import metrics, protocols
from evaluate.layers.capture import capture_layers, layer_shapes
from evaluate.layers.chunks import map_chunks
from evaluate.layers.registry import ANALYSES, Analysis, require_non_negative, require_positive
from evaluate.plots import layers as layer_plots

_MIN_STD = 1e-6


def pooled(layers) -> tuple[jnp.ndarray, ...]:
  """Global average pooling of each (B, H, W, C) map; vectors unchanged. -> tuple of (B, D_l)."""
  return tuple(value.mean(axis=(1, 2)) if value.ndim == 4 else value for value in layers.values())


@functools.lru_cache(maxsize=8)
def make_pooled_fn(model, pattern: str):
  """Jitted fn(variables, images uint8 (n, 32, 32, 3)) -> tuple over layers of (n, D_l)."""
  return jax.jit(lambda variables, images: pooled(capture_layers(model, variables, images, pattern)))


def pooled_features(model, variables, images, *, pattern="", images_per_chunk=25, shardings=None,
                    say=None, what="images") -> tuple[np.ndarray, ...]:
  """Every layer's pooled features of `images`: tuple (capture order) of (N, D_l) float32."""
  return map_chunks(make_pooled_fn(model, pattern), variables, images,
                    images_per_chunk=images_per_chunk, shardings=shardings, say=say, what=what)


def _logits(readouts, features):
  return tuple((f - r["mean"]) / r["std"] @ r["w"] + r["b"] for r, f in zip(readouts, features))


def train_readouts(features: Sequence[np.ndarray], labels: np.ndarray, num_classes: int, *,
                   epochs: int, batch_size: int, learning_rate: float, weight_decay: float,
                   seed: int = 0) -> tuple[dict, ...]:
  """Fits one linear readout per feature set, all in one jitted step (independent parameters).

  Args:
    features: per layer (N, D_l) float features of the same N training examples.
    labels: (N,) int classes in [0, num_classes).
    epochs, batch_size, learning_rate, weight_decay: optax.adamw settings; batches are drawn
      without replacement per epoch (numpy default_rng(seed)); the last partial batch is dropped
      when N >= batch_size.
  Returns:
    Per layer dict(mean (D,), std (D,), w (D, C), b (C,)) of float32 arrays.
  Raises:
    ValueError: impossible settings, mismatched shapes, non-finite features or loss.
  """
  labels = np.asarray(labels, np.int32)
  if epochs < 1 or batch_size < 1 or not learning_rate > 0 or weight_decay < 0:
    raise ValueError(f"readout needs epochs >= 1, batch_size >= 1, learning_rate > 0, "
                     f"weight_decay >= 0; got {epochs}, {batch_size}, {learning_rate}, "
                     f"{weight_decay}")
  count = labels.shape[0]
  if any(f.shape[0] != count for f in features):
    raise ValueError("every feature set needs one row per label")
  for index, f in enumerate(features):
    if not np.all(np.isfinite(f)):
      raise ValueError(f"readout features of layer {index} are not finite (NaN or inf)")
  stats = [(f.mean(0), np.maximum(f.std(0), _MIN_STD)) for f in features]
  params = tuple({"w": jnp.zeros((f.shape[1], num_classes)), "b": jnp.zeros((num_classes,))}
                 for f in features)
  optimizer = optax.adamw(learning_rate, weight_decay=weight_decay)
  frozen = tuple({"mean": jnp.asarray(m, jnp.float32), "std": jnp.asarray(s, jnp.float32)}
                 for m, s in stats)

  def loss_fn(params, batch, batch_labels):
    logits = _logits(tuple({**p, **f} for p, f in zip(params, frozen)), batch)
    return sum(optax.softmax_cross_entropy_with_integer_labels(l, batch_labels).mean()
               for l in logits)

  @jax.jit
  def step(params, opt_state, batch, batch_labels):
    loss, grads = jax.value_and_grad(loss_fn)(params, batch, batch_labels)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  opt_state = optimizer.init(params)
  rng = np.random.default_rng(seed)
  size = min(batch_size, count)
  loss = jnp.zeros(())
  for _ in range(epochs):
    order = rng.permutation(count)
    for start in range(0, count - size + 1, size):
      rows = order[start:start + size]
      params, opt_state, loss = step(params, opt_state, tuple(f[rows] for f in features),
                                     labels[rows])
  if not np.isfinite(float(loss)):
    raise ConfigError(f"readout training diverged (loss {float(loss)}); lower "
                      "config.readout.learning_rate")
  return tuple({"mean": f["mean"], "std": f["std"], "w": p["w"], "b": p["b"]}
               for p, f in zip(params, frozen))


def readout_predictions(readouts, features: Sequence[np.ndarray]) -> list[np.ndarray]:
  """Per layer (N,) predicted classes of the readouts on (N, D_l) features."""
  return [np.asarray(jnp.argmax(l, -1)) for l in _logits(readouts, features)]


def make_stacked_predict(model, pattern: str):
  """predict(variables, images) -> (B, L, C) readout logits of every layer, for the grid engine
  (variables = {'model': model variables, 'readouts': train_readouts' result})."""
  def predict(variables, images):
    features = pooled(capture_layers(model, variables["model"], images, pattern))
    return jnp.stack(_logits(variables["readouts"], features), axis=1)
  return predict


def _as_dict(entry) -> dict:
  return entry.to_dict() if isinstance(entry, ml_collections.ConfigDict) else dict(entry)


def check(section, layer_names) -> None:
  """Raises ValueError / UnknownNameError for a bad config.readout."""
  del layer_names
  protocols.build_grid_protocol_from_config(_as_dict(section.protocol))
  require_non_negative(section, "train_images")
  require_positive(section, "epochs", "batch_size")
  if not float(section.learning_rate) > 0 or not float(section.weight_decay) >= 0:
    raise ConfigError(f"readout needs learning_rate > 0 and weight_decay >= 0, got "
                      f"{section.learning_rate}, {section.weight_decay}")


def run(context, section) -> dict[str, Any]:
  """Fit the readouts, evaluate them under the crop protocol, JSON entry and plot."""
  protocol = protocols.build_grid_protocol_from_config(_as_dict(section.protocol))
  config, data = context.config, context.data
  names = list(context.layer_shapes)
  count = int(section.train_images)
  rows = (np.arange(data.train_images.shape[0]) if count <= 0 or count >= data.train_images.shape[0]
          else np.sort(np.random.default_rng(int(config.seed)).choice(
              data.train_images.shape[0], count, replace=False)))
  context.say(f"  readout: pooled features of {len(rows)} training images, {len(names)} layers")
  chunk = int(config.images_per_chunk)
  train_features = pooled_features(context.model, context.variables, data.train_images[rows],
                                   pattern=config.layer_pattern, images_per_chunk=chunk,
                                   shardings=context.shardings, say=context.say,
                                   what="training images")
  num_classes = int(data.num_classes)
  readouts = train_readouts(train_features, data.train_labels[rows], num_classes,
                            epochs=int(section.epochs), batch_size=int(section.batch_size),
                            learning_rate=float(section.learning_rate),
                            weight_decay=float(section.weight_decay), seed=int(config.seed))
  test_features = pooled_features(context.model, context.variables, context.images,
                                  pattern=config.layer_pattern, images_per_chunk=chunk,
                                  shardings=context.shardings)
  clean = [metrics.stat(p == context.labels) for p in readout_predictions(readouts, test_features)]
  context.say(f"  readout: {protocol.name} grid of {grid_engine.grid_size(protocol)} points per "
              f"image for all {len(names)} readouts at once")
  predict = make_stacked_predict(context.model, config.layer_pattern)
  variables = {"model": context.variables, "readouts": readouts}
  result = grid_engine.evaluate_grid(predict, variables, context.images, context.labels, protocol,
                                     shardings=context.shardings, images_per_chunk=chunk,
                                     seed=int(config.seed))
  probs = result.probs
  if probs.shape[-1] != len(names) * num_classes:
    raise ValueError(f"grid engine returned {probs.shape[-1]} values per grid point, expected "
                     f"{len(names)} layers x {num_classes} classes")
  probs = probs.reshape(probs.shape[:2] + (len(names), num_classes))
  entries = []
  for index, name in enumerate(names):
    layer_probs = probs[:, :, index]
    entries.append({
        "name": name, "dim": int(train_features[index].shape[1]), "clean_accuracy": clean[index],
        "p_top1_change": metrics.p_top1_change(layer_probs, result.pairs),
        "mac": metrics.mac(layer_probs, result.pairs),
        "accuracy": metrics.accuracy(layer_probs, result.labels)})
  path = context.output("readout_by_layer.png", lambda path: layer_plots.plot_by_depth(
      [dict(label=context.model_label, layers=entries)],
      [("p_top1_change", f"P(top-1 change)\n{protocol.name}"), ("mac", "MAC"),
       ("accuracy", "readout accuracy\nover the grid")],
      path,
      title=f"{context.model_label}: linear readouts of each layer's pooled features "
            f"({len(rows)} training images, {section.epochs} epochs) under {protocol.name} "
            f"({len(context.images)} test images)\n{context.command}"))
  return {"protocol": {"type": protocol.name, **protocol.options}, "train_images": int(len(rows)),
          "layers": entries, "files": [path]}


ANALYSES.register("readout")(Analysis(check, run))
