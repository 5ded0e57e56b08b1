"""Typicality (Azulay & Weiss 2019, figures 7-8): invariance is learnt for typical images only.

Typicality of a test image = the mean normalised correlation of its penultimate pooled features
with those of its `neighbours` (10) nearest training images, nearest = most correlated. The
normalised correlation of feature vectors a, b is Pearson's:
(a - mean a) . (b - mean b) / (||a - mean a|| ||b - mean b||), in [-1, 1].

Penultimate features: config.typicality.layer (a captured layer name), default the last
captured layer before the classifier, globally average-pooled if it is a map (AlexNet-style:
'fc2', the dense layer's output before its ReLU; ResNets: the last block's output, pooled,
which is exactly what the classifier reads).

The test images are split into `bins` equally populated bins of typicality; per bin, for every
protocol of config.typicality.protocols (evaluated with the grid engine and the model's own
predictions): P(top-1 change) and MAC between one-pixel pairs, with standard errors over the
bin's images (evaluate/metrics.py). Figure 8 of the paper: the less typical, the more sensitive.
"""
from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from common.errors import ConfigError
from evaluate import grid as grid_engine
from evaluate import metrics, plots, protocols
from evaluate.layers.readout import pooled_features
from evaluate.layers.registry import ANALYSES, Analysis, require_non_negative, require_positive
from runtime.accuracy import make_predict_fn

# Correlations of this many test features at a time against the whole training bank.
_QUERY_CHUNK = 256


def _centred_unit(features: np.ndarray) -> jnp.ndarray:
  """Rows minus their mean, divided by their norm (zero rows stay zero)."""
  x = jnp.asarray(features, jnp.float32)
  x = x - x.mean(axis=1, keepdims=True)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_neighbours(queries: np.ndarray, bank: np.ndarray, k: int
                       ) -> tuple[np.ndarray, np.ndarray]:
  """The k training rows most correlated with each query row.

  Args:
    queries: (N, D) features; bank: (M, D) features, M >= k.
  Returns:
    (correlations (N, k) float32, descending; indices (N, k) int into bank).
  Raises:
    ValueError: k < 1 or k > M, or mismatched feature sizes.
  """
  if not 1 <= k <= bank.shape[0]:
    raise ValueError(f"neighbours must be in 1..{bank.shape[0]} (training images searched), got {k}")
  if queries.shape[1] != bank.shape[1]:
    raise ValueError(f"feature sizes differ: {queries.shape[1]} versus {bank.shape[1]}")
  bank_unit = _centred_unit(bank)
  top_k = jax.jit(lambda q, b: jax.lax.top_k(_centred_unit(q) @ b.T, k))
  values, indices = [], []
  for start in range(0, queries.shape[0], _QUERY_CHUNK):
    v, i = top_k(queries[start:start + _QUERY_CHUNK], bank_unit)
    values.append(np.asarray(v))
    indices.append(np.asarray(i))
  return np.concatenate(values), np.concatenate(indices)


def typicality(queries: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
  """(N,) mean correlation of each query with its k nearest bank rows (at most 1)."""
  return nearest_neighbours(queries, bank, k)[0].mean(axis=1)


def typicality_bins(values: np.ndarray, bins: int) -> np.ndarray:
  """(N,) bin index 0..bins-1 of equally populated bins, 0 = least typical."""
  if not 1 <= bins <= values.shape[0]:
    raise ValueError(f"typicality bins must be in 1..{values.shape[0]} (images), got {bins}")
  order = np.argsort(values, kind="stable")
  index = np.empty(values.shape[0], np.int64)
  index[order] = np.arange(values.shape[0]) * bins // values.shape[0]
  return index


def penultimate_layer(layer_names: list[str], chosen: str) -> str:
  """`chosen` if given (must be a captured layer), else the layer before the last."""
  if chosen:
    if chosen not in layer_names:
      raise ConfigError(f"config.typicality.layer {chosen!r} is not a captured layer; layers: "
                        f"{', '.join(layer_names)}")
    return chosen
  if len(layer_names) < 2:
    raise ConfigError("typicality needs at least two captured layers (penultimate = the one "
                      "before the classifier); set config.typicality.layer")
  return layer_names[-2]


def _as_dict(entry) -> dict:
  return entry.to_dict() if isinstance(entry, ml_collections.ConfigDict) else dict(entry)


def _neighbour_figure(context, typical, neighbour_index, neighbour_corr, train_rows,
                      count, path) -> str:
  """Most and least typical test images, each with its nearest training images."""
  order = np.argsort(typical, kind="stable")
  shown = list(order[::-1][:count]) + list(order[:count])
  columns = 1 + min(6, neighbour_index.shape[1])
  figure = plots.new_figure(1.5 * columns, 1.6 * len(shown) + 0.6)
  axes = figure.subplots(len(shown), columns, squeeze=False)
  names = context.data.class_names
  for row, image in enumerate(shown):
    kind = "most" if row < count else "least"
    axes[row, 0].imshow(context.images[image])
    axes[row, 0].set_title(f"{kind} typical: test {int(context.image_indices[image])}\n"
                           f"{names[context.labels[image]]}, T={typical[image]:.3f}", fontsize=6)
    for column in range(1, columns):
      train = train_rows[neighbour_index[image, column - 1]]
      axes[row, column].imshow(context.data.train_images[train])
      axes[row, column].set_title(f"train {int(train)} "
                                  f"({names[context.data.train_labels[train]]})\n"
                                  f"r={neighbour_corr[image, column - 1]:.3f}", fontsize=6)
  for axis in axes.flat:
    axis.set_xticks([])
    axis.set_yticks([])
  figure.suptitle(f"{context.model_label}: most and least typical test images and their nearest "
                  f"training images\n{context.command}", fontsize=8)
  return plots.save(figure, path)


def _plot_bins(series, path, title) -> str:
  figure = plots.new_figure(9, 3.6)
  axes = figure.subplots(1, 2)
  for axis, key, label in ((axes[0], "p_top1_change", "P(top-1 change)"), (axes[1], "mac", "MAC")):
    for name, entry in series.items():
      axis.errorbar(entry["typicality"], entry[key]["mean"],
                    yerr=np.nan_to_num(np.array(entry[key]["stderr"], float)), marker="o",
                    capsize=2, label=name)
    axis.set_xlabel("typicality (mean of the bin)")
    axis.set_ylabel(label)
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
  figure.suptitle(title, fontsize=8)
  return plots.save(figure, path)


def _build_protocols(section) -> dict[str, Any]:
  built = {}
  for name, entry in _as_dict(section.protocols).items():
    try:
      built[name] = protocols.build_grid_protocol_from_config(_as_dict(entry))
    except (TypeError, ValueError) as error:
      raise type(error)(f"config.typicality.protocols.{name}: {error}") from error
  if not built:
    raise ConfigError("config.typicality.protocols is empty")
  return built


def check(section, layer_names) -> None:
  """Raises ValueError / UnknownNameError for a bad config.typicality."""
  _build_protocols(section)
  penultimate_layer(layer_names, str(section.layer))
  require_non_negative(section, "train_images", "show_images")
  require_positive(section, "neighbours", "bins")


def run(context, section) -> dict[str, Any]:
  """Typicality of every test image, metrics per typicality bin per protocol, figures."""
  built = _build_protocols(section)
  layer = penultimate_layer(list(context.layer_shapes), str(section.layer))
  config, data = context.config, context.data
  count = int(section.train_images)
  train_rows = (np.arange(data.train_images.shape[0])
                if count <= 0 or count >= data.train_images.shape[0]
                else np.sort(np.random.default_rng(int(config.seed)).choice(
                    data.train_images.shape[0], count, replace=False)))
  pattern = f"^{re.escape(layer)}$"
  chunk = int(config.images_per_chunk)
  context.say(f"  typicality: features of layer {layer} for {len(train_rows)} training images")
  (bank,) = pooled_features(context.model, context.variables, data.train_images[train_rows],
                            pattern=pattern, images_per_chunk=chunk, shardings=context.shardings,
                            say=context.say, what="training images")
  (queries,) = pooled_features(context.model, context.variables, context.images, pattern=pattern,
                               images_per_chunk=chunk, shardings=context.shardings)
  correlations, neighbours = nearest_neighbours(queries, bank, int(section.neighbours))
  typical = correlations.mean(axis=1)
  bins = typicality_bins(typical, int(section.bins))
  bin_values = sorted(set(bins.tolist()))
  predict = make_predict_fn(context.model)
  series = {}
  for name, protocol in built.items():
    context.say(f"  typicality: protocol {name} ({protocol.name})")
    result = grid_engine.evaluate_grid(predict, context.variables, context.images, context.labels,
                                       protocol, shardings=context.shardings,
                                       images_per_chunk=chunk, seed=int(config.seed))
    changed = metrics.top1_changed(result.probs, result.pairs).mean(1)
    change = metrics.absolute_change(result.probs, result.pairs).mean(1)
    per_bin = {"bin": bin_values, "typicality": [float(typical[bins == b].mean()) for b in bin_values],
               "num_images": [int(np.sum(bins == b)) for b in bin_values]}
    for key, values in (("p_top1_change", changed), ("mac", change)):
      stats = [metrics.stat(values[bins == b]) for b in bin_values]
      per_bin[key] = {"mean": [s["mean"] for s in stats], "stderr": [s["stderr"] for s in stats]}
    per_bin["correlation_with_typicality"] = {
        key: float(np.corrcoef(typical, values)[0, 1]) if np.std(values) > 0 else None
        for key, values in (("p_top1_change", changed), ("mac", change))}
    series[name] = per_bin
  context.save_arrays("typicality_per_image.npz", typicality=typical, bins=bins,
                      neighbours=train_rows[neighbours], correlations=correlations,
                      test_indices=context.image_indices)
  files = [context.output("typicality_bins.png", lambda path: _plot_bins(
      series, path, f"{context.model_label}: sensitivity to one-pixel moves per typicality bin "
      f"({len(context.images)} test images, {int(section.neighbours)} nearest of "
      f"{len(train_rows)} training images, layer {layer}; ± stderr)\n{context.command}"))]
  if int(section.show_images) > 0:
    files.append(context.output("typicality_neighbours.png", lambda path: _neighbour_figure(
        context, typical, neighbours, correlations, train_rows,
        min(int(section.show_images), len(typical) // 2 or 1), path)))
  return {"layer": layer, "train_images": int(len(train_rows)),
          "neighbours": int(section.neighbours),
          "typicality": metrics.stat(typical), "protocols": series, "files": files}


ANALYSES.register("typicality")(Analysis(check, run))
