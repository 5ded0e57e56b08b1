"""Shiftability by layer (Azulay & Weiss 2019, sec. 3, figure 3).

For each test image x and input shift d = (dy, dx) pixels, every captured layer F (see
evaluate/layers/capture.py) of cumulative stride s = 32 / H is compared between the shifted
input and the original:

  equivariance_error = ||F(T_d x) - S_{d/s} F(x)|| / ||F(x)||
      S_t = circular shift by t samples through ideal (Fourier) interpolation
      (common/fourier.py); a plain roll where d/s is an integer. Zero exactly when the
      map is shiftable in the paper's sense (for stride 1: equivariant).
  global_sum_change = sum_c |mean_hw F(T_d x) - mean_hw S_{d/s} F(x)| / sum_c mean_hw |F(x)|
      The paper's claim: a shiftable map has an invariant global sum. (S_{d/s} keeps the global
      sum, so over the whole map this compares with F(x) itself.) In 'crop' mode both means
      run over the same mask as the equivariance error (the border left out), so content
      entering at the border does not count.
For vector layers (after global pooling: dense layers) the error is
||F(T_d x) - F(x)|| / ||F(x)|| (invariance) and there is no global sum.

Shift modes (SHIFT_MODES): 'circular' rolls the image (a stride-1 circular-padded network is
then exactly equivariant); 'crop' moves the 32x32 window over the reflect-padded image (new
content enters at the border, so errors leave out `crop_border` input pixels at each edge).

All layers, shifts and images of a chunk come from one jitted call: the chunk's images and
their shifted copies form one batch, the model runs once with intermediate capture, and only
the (images, shifts) errors per layer leave the device.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from common.errors import ConfigError
from augment.crop import pad_and_crop_at
from common.fourier import fourier_shift
from common.registry import Registry
from data.constants import IMAGE_SHAPE
from evaluate import metrics
from evaluate.layers import maps
from evaluate.layers.capture import capture_layers, layer_shapes
from evaluate.layers.chunks import map_chunks
from evaluate.layers.registry import ANALYSES, Analysis, require_non_negative
from evaluate.plots import layers as layer_plots

SIDE = IMAGE_SHAPE[0]


@dataclasses.dataclass(frozen=True)
class ShiftMode:
  """transform(image (32, 32, 3) float, shift (2,) int (dy, dx), max_shift) -> moved image;
  has_border: whether new content enters at the border (errors then leave it out)."""
  transform: Callable[[jnp.ndarray, jnp.ndarray, int], jnp.ndarray]
  has_border: bool


SHIFT_MODES: Registry[ShiftMode] = Registry("shift mode")
SHIFT_MODES.register("circular")(ShiftMode(
    lambda image, shift, max_shift: jnp.roll(image, (shift[0], shift[1]), axis=(0, 1)), False))
SHIFT_MODES.register("crop")(ShiftMode(
    lambda image, shift, max_shift: pad_and_crop_at(image, max_shift, max_shift - shift[0],
                                                    max_shift - shift[1], "reflect"), True))


def check_shifts(shifts) -> np.ndarray:
  """(K, 2) int32 array of (dy, dx) shifts; raises ValueError for anything else or K = 0."""
  array = np.asarray(shifts)
  if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0 or not np.issubdtype(
      array.dtype, np.integer):
    raise ConfigError(f"shifts must be a non-empty list of integer (dy, dx) pairs, got {shifts!r}")
  if np.any(np.abs(array) >= SIDE):
    raise ConfigError(f"shifts must be smaller than the image side {SIDE}, got {shifts!r}")
  return array.astype(np.int32)


def map_errors(base: jnp.ndarray, moved: jnp.ndarray, shifts: jnp.ndarray,
               border_pixels: int) -> dict[str, jnp.ndarray]:
  """Errors of one layer. base (n, H, W, C) or (n, D); moved (K, n, ...); shifts (K, 2) input
  pixels. Returns equivariance_error and global_sum_change, each (n, K) (the latter NaN for
  vectors)."""
  if base.ndim == 2:
    error = maps.normalised_vector_error(moved, base[None])
    return {"equivariance_error": error.T, "global_sum_change": jnp.full_like(error.T, jnp.nan)}
  height, width = base.shape[1:3]
  expected = jax.vmap(lambda shift: fourier_shift(
      base, (shift[0] * height / SIDE, shift[1] * width / SIDE), (1, 2)))(
          shifts.astype(jnp.float32))
  mask = maps.border_mask(height, width, border_pixels, SIDE)
  error = maps.normalised_error(moved, expected, base[None], mask)
  return {"equivariance_error": error.T,
          "global_sum_change": maps.global_sum_change(moved, expected, mask).T}


@functools.lru_cache(maxsize=8)
def make_shiftability_fn(model, pattern: str, shifts: tuple, mode: str, border_pixels: int):
  """Jitted fn(variables, images (n, 32, 32, 3) uint8) -> tuple over layers (capture order,
  see capture.layer_shapes) of {metric: (n, K)}."""
  shift_mode = SHIFT_MODES.get(mode)
  shift_array = check_shifts(shifts)
  max_shift = int(np.abs(shift_array).max())
  border = border_pixels if shift_mode.has_border else 0

  def errors(variables, images):
    x = images.astype(jnp.float32)
    table = jnp.asarray(shift_array)
    moved = jax.vmap(lambda shift: jax.vmap(
        lambda image: shift_mode.transform(image, shift, max_shift))(x))(table)
    count, n = table.shape[0], x.shape[0]
    batch = jnp.concatenate([x[None], moved]).reshape(((count + 1) * n,) + x.shape[1:])
    layers = capture_layers(model, variables, batch, pattern)
    out = []
    for value in layers.values():
      value = value.reshape((count + 1, n) + value.shape[1:])
      out.append(map_errors(value[0], value[1:], table, border))
    return tuple(out)

  return jax.jit(errors)


def shiftability_by_layer(model, variables, images: np.ndarray, *, shifts, mode: str = "circular",
                          pattern: str = "", border_pixels: int = 0, images_per_chunk: int = 25,
                          shardings=None, say=None) -> dict[str, dict[str, np.ndarray]]:
  """Per-image errors: name -> {'equivariance_error', 'global_sum_change'} each (N, K).

  images: (N, 32, 32, 3) uint8; shifts: (dy, dx) pairs; see the module docstring.
  """
  fn = make_shiftability_fn(model, pattern, tuple(map(tuple, check_shifts(shifts).tolist())),
                            mode, int(border_pixels))
  names = list(layer_shapes(model, variables, pattern))
  per_layer = map_chunks(fn, variables, images, images_per_chunk=images_per_chunk,
                         shardings=shardings, say=say)
  return dict(zip(names, per_layer))


def summarize(per_image: dict[str, dict[str, np.ndarray]], shapes: dict[str, tuple]) -> list[dict]:
  """One JSON-able entry per layer: name, shape, stride, the two metrics (mean, stderr over
  images of each image's mean over shifts) and their means per shift."""
  entries = []
  for name, values in per_image.items():
    shape = shapes[name]
    entry = {"name": name, "shape": list(shape),
             "stride": SIDE / shape[0] if len(shape) == 3 else None}
    for metric, array in values.items():
      if np.all(np.isnan(array)):
        entry[metric], entry[metric + "_per_shift"] = None, None
        continue
      entry[metric] = metrics.stat(array.mean(1))
      entry[metric + "_per_shift"] = [float(v) for v in array.mean(0)]
    entries.append(entry)
  return entries


def feature_map_figure(context, section, layer_names: list[str], index: int) -> str:
  """Figure 3 for one test image: the image moved down by 0..S-1 pixels and one channel of
  each of `layer_names` (the channel with the largest mean |activation| on the unmoved image)."""
  shift_mode = SHIFT_MODES.get(section.mode)
  count = int(section.feature_map_shifts)
  image = jnp.asarray(context.images[index], jnp.float32)
  moved = jnp.stack([shift_mode.transform(image, jnp.array([d, 0]), count)
                     for d in range(count)])
  layers = capture_layers(context.model, context.variables, moved, context.config.layer_pattern)
  rows = []
  for name in layer_names:
    value = np.asarray(layers[name])
    channel = int(np.argmax(np.abs(value[0]).mean((0, 1))))
    rows.append((f"{name} (stride {SIDE // value.shape[1]}, channel {channel})",
                 value[..., channel]))
  test_index = int(context.image_indices[index])
  shown = np.clip(np.asarray(moved), 0, 255).astype(np.uint8)
  return context.output(f"shiftability_maps_test{test_index}.png", lambda path: (
      layer_plots.plot_feature_maps(
          shown, rows, path, column_titles=[f"moved down {d} px" for d in range(count)],
          title=f"{context.model_label}: test image {test_index} moved down ({section.mode}) "
                f"and its feature maps (one channel per layer, shared colour scale per row)\n"
                f"{context.command}")))


def check(section, layer_names) -> None:
  """Raises ValueError / UnknownNameError for a bad config.shiftability."""
  del layer_names
  check_shifts(section.shifts)
  SHIFT_MODES.get(section.mode)
  require_non_negative(section, "crop_border", "feature_map_images", "feature_map_shifts",
                       "feature_map_layers")


def check_finite(per_image: dict[str, dict[str, np.ndarray]], metric: str) -> None:
  """Raises ValueError naming the first layer whose `metric` is NaN or inf (a diverged
  checkpoint or inputs the model cannot handle)."""
  for name, values in per_image.items():
    if not np.all(np.isfinite(values[metric])):
      raise ValueError(f"layer {name}: non-finite {metric} (NaN or inf feature maps; is the "
                       "checkpoint diverged?)")


def run(context, section) -> dict[str, Any]:
  """The analysis: per-layer errors over the context's test images, JSON entry, plots."""
  per_image = shiftability_by_layer(
      context.model, context.variables, context.images, shifts=section.shifts, mode=section.mode,
      pattern=context.config.layer_pattern, border_pixels=int(section.crop_border),
      images_per_chunk=int(context.config.images_per_chunk), shardings=context.shardings,
      say=context.say)
  check_finite(per_image, "equivariance_error")
  entries = summarize(per_image, context.layer_shapes)
  context.save_arrays("shiftability_per_image.npz",
                      **{f"{name}:{metric}": array for name, values in per_image.items()
                         for metric, array in values.items()})
  files = [context.output("shiftability_by_layer.png", lambda path: layer_plots.plot_by_depth(
      [dict(label=context.model_label, layers=entries)],
      [("equivariance_error", "equivariance error\n||F(Tx) - S F(x)|| / ||F(x)||"),
       ("global_sum_change", "global-sum change\n(relative)")],
      path,
      title=f"{context.model_label}: one-pixel {section.mode} shifts {list(map(list, section.shifts))}, "
            f"{len(context.images)} test images (mean ± stderr)\n{context.command}"))]
  spatial = [e["name"] for e in entries if e["stride"] is not None]
  count = int(section.feature_map_layers)
  if section.feature_map_images > 0 and count > 0 and spatial:
    picks = sorted({int(round(i)) for i in np.linspace(0, len(spatial) - 1, min(count, len(spatial)))})
    for index in range(min(int(section.feature_map_images), len(context.images))):
      files.append(feature_map_figure(context, section, [spatial[i] for i in picks], index))
  return {"mode": section.mode, "shifts": [list(s) for s in section.shifts], "layers": entries,
          "files": files}


ANALYSES.register("shiftability")(Analysis(check, run))
