"""Feature-map alignment (Jansson et al. 2020): can a spatial transformation of a feature map
align the maps of a transformed image with those of the original?

For each transformation T of the input and each captured layer F (cumulative stride
s = 32 / H), the map of the original image is transformed "the same way" at the map's
resolution (A_T below) and compared with the map of the transformed image:

  error(T, F) = min over offsets o  ||m (F(T x) - S_o A_T F(x))|| / ||m F(T x)||

S_o is a circular shift by o = (oy, ox) samples through Fourier interpolation, o over
config `offsets`^2 (default {-1/2, 0, 1/2}^2): the best alignment within half a sample, since
where a strided map's samples sit relative to the input's centre is a convention. For a
translation the candidates are the total map shifts d/s + o per axis and, besides, the two
whole-sample moves floor(d/s) and ceil(d/s) (which d/s + {-1/2, 0, 1/2} misses whenever d/s
is not a multiple of 1/2, e.g. every translation of (0, 1), (2, 3) at stride 4): a polyphase
network (APS) moves its stride-s maps by a whole number of samples. Each candidate is one
Fourier shift of the map by its total (so integer totals are rolls). m masks
`border` input pixels (scaled to the map) at each edge, where a rescaling brings in or drops
content. Transformations (TRANSFORMS) and the resampling used:

  translation (dy, dx)  input: jnp.roll by (dy, dx) pixels (exact, circular).
                        map: Fourier shift by (dy, dx) / s samples (+ the offsets, or the
                        nearest whole samples).
  scale a               input: out(p) = in(c + (p - c) / a) about the centre c = (side - 1) / 2,
                        bilinear (jax.scipy.ndimage.map_coordinates order 1, edge values
                        outside, no antialiasing). map: the same, with the map's own centre.
  rotation k            input and map: np.rot90 by k quarter turns (exact).

Vector layers (after global pooling) are compared without any alignment:
||F(T x) - F(x)|| / ||F(T x)||. The claim to check: near zero for translations at stride-1
circular layers (exactly zero with circular padding), and not zero for rescaling wherever the
features are not themselves scale invariant.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from common.errors import ConfigError
from common.fourier import fourier_shift
from data.constants import IMAGE_SHAPE
from evaluate import metrics
from evaluate.layers import maps
from evaluate.layers.capture import capture_layers, layer_shapes
from evaluate.layers.chunks import map_chunks
from evaluate.layers.registry import ANALYSES, Analysis, require_non_negative
from evaluate.plots import layers as layer_plots

SIDE = IMAGE_SHAPE[0]
FAMILIES = ("translation", "scale", "rotation")


def rescale(maps_: jnp.ndarray, factor: float) -> jnp.ndarray:
  """(..., H, W, C) -> same shape, content rescaled by `factor` about the centre (bilinear,
  edge values outside)."""
  height, width = maps_.shape[-3:-1]
  rows = (height - 1) / 2 + (jnp.arange(height) - (height - 1) / 2) / factor
  cols = (width - 1) / 2 + (jnp.arange(width) - (width - 1) / 2) / factor
  grid = jnp.meshgrid(rows, cols, indexing="ij")

  def one_channel(plane):
    return jax.scipy.ndimage.map_coordinates(plane, grid, order=1, mode="nearest")

  flat = maps_.reshape((-1, height, width, maps_.shape[-1]))
  out = jax.vmap(jax.vmap(one_channel, in_axes=-1, out_axes=-1))(flat)
  return out.reshape(maps_.shape)


@dataclasses.dataclass(frozen=True)
class Transform:
  """One input transformation and its map counterpart.

  image_fn: (n, 32, 32, 3) -> (n, 32, 32, 3); map_fn: ((n, H, W, C), stride) -> (n, H, W, C).
  shift: for a translation, the input shift (dy, dx) in pixels (its candidates are whole
    Fourier shifts of the map, see `candidate_shifts`); None otherwise.
  """
  family: str
  label: str
  image_fn: Callable[[jnp.ndarray], jnp.ndarray]
  map_fn: Callable[[jnp.ndarray, float], jnp.ndarray]
  shift: tuple[int, int] | None = None


def translation(dy: int, dx: int) -> Transform:
  return Transform("translation", f"shift ({dy},{dx})",
                   lambda x: jnp.roll(x, (dy, dx), axis=(1, 2)),
                   lambda f, stride: fourier_shift(f, (dy / stride, dx / stride), (1, 2)),
                   shift=(dy, dx))


def candidate_shifts(shift: tuple[int, int], strides: tuple[float, float],
                     offsets) -> np.ndarray:
  """(K, 2) total map shifts (samples) tried for a translation by `shift` input pixels of a
  map of strides (s_y, s_x): per axis, d / s + every offset, and floor and ceil of d / s
  (the whole-sample moves); all combinations of the two axes, duplicates removed."""
  per_axis = []
  for pixels, stride in zip(shift, strides):
    exact = pixels / stride
    values = {round(exact + float(o), 9) for o in offsets}
    values |= {float(np.floor(exact)), float(np.ceil(exact))}
    per_axis.append(sorted(values))
  return np.array(list(itertools.product(*per_axis)), np.float32)


def scaling(factor: float) -> Transform:
  return Transform("scale", f"scale {factor:g}", lambda x: rescale(x, factor),
                   lambda f, stride: rescale(f, factor))


def rotation(quarter_turns: int) -> Transform:
  return Transform("rotation", f"rotate {90 * quarter_turns}°",
                   lambda x: jnp.rot90(x, quarter_turns, axes=(1, 2)),
                   lambda f, stride: jnp.rot90(f, quarter_turns, axes=(1, 2)))


def build_transforms(translations=(), scales=(), rotations=()) -> tuple[Transform, ...]:
  """The transformations of the config; raises ValueError for impossible values."""
  transforms = []
  for pair in translations:
    if len(pair) != 2 or any(not isinstance(v, (int, np.integer)) or abs(v) >= SIDE for v in pair):
      raise ConfigError(f"alignment translations must be integer (dy, dx) pairs below {SIDE}, "
                        f"got {pair!r}")
    transforms.append(translation(int(pair[0]), int(pair[1])))
  for factor in scales:
    if not np.isfinite(factor) or not 0.25 <= float(factor) <= 4:
      raise ConfigError(f"alignment scales must be in [0.25, 4], got {factor!r}")
    transforms.append(scaling(float(factor)))
  for turns in rotations:
    if not isinstance(turns, (int, np.integer)) or turns % 4 == 0:
      raise ConfigError(f"alignment rotations are quarter turns 1, 2 or 3, got {turns!r}")
    transforms.append(rotation(int(turns)))
  if not transforms:
    raise ConfigError("alignment needs at least one translation, scale or rotation")
  return tuple(transforms)


def _offsets(values) -> np.ndarray:
  values = [float(v) for v in values]
  if not values or any(not np.isfinite(v) for v in values):
    raise ConfigError(f"alignment offsets must be a non-empty list of numbers, got {values!r}")
  return np.array(list(itertools.product(values, values)), np.float32)


@functools.lru_cache(maxsize=8)
def make_alignment_fn(model, pattern: str, transforms: tuple[Transform, ...],
                      offsets: tuple[float, ...], border_pixels: int):
  """Jitted fn(variables, images (n, 32, 32, 3) uint8) -> tuple over layers (capture order)
  of (n, T) best-alignment errors."""
  offset_table = _offsets(offsets)

  def errors(variables, images):
    x = images.astype(jnp.float32)
    n, count = x.shape[0], len(transforms)
    batch = jnp.concatenate([x] + [t.image_fn(x) for t in transforms])
    out = []
    for value in capture_layers(model, variables, batch, pattern).values():
      value = value.reshape((count + 1, n) + value.shape[1:])
      base = value[0]
      if base.ndim == 2:
        out.append(jnp.stack([maps.normalised_vector_error(value[1 + i], base)
                              for i in range(count)], axis=1))
        continue
      height, width = base.shape[1:3]
      stride = SIDE / height
      mask = maps.border_mask(height, width, border_pixels, SIDE)
      per_transform = []
      for index, transform in enumerate(transforms):
        target = value[1 + index]
        if transform.shift is not None:
          table = candidate_shifts(transform.shift, (SIDE / height, SIDE / width), offsets)
          candidates = jax.vmap(lambda o: fourier_shift(base, (o[0], o[1]), (1, 2)))(
              jnp.asarray(table))
        else:
          aligned = transform.map_fn(base, stride)
          candidates = jax.vmap(lambda o: fourier_shift(aligned, (o[0], o[1]), (1, 2)))(
              jnp.asarray(offset_table))
        error = maps.normalised_error(target[None], candidates, target[None], mask)  # (O, n)
        per_transform.append(jnp.min(error, axis=0))
      out.append(jnp.stack(per_transform, axis=1))
    return tuple(out)

  return jax.jit(errors)


def alignment_by_layer(model, variables, images: np.ndarray, transforms, *, pattern: str = "",
                       offsets=(-0.5, 0.0, 0.5), border_pixels: int = 0,
                       images_per_chunk: int = 25, shardings=None, say=None
                       ) -> dict[str, np.ndarray]:
  """name -> (N, T) best-alignment errors, T = len(transforms) (see the module docstring)."""
  fn = make_alignment_fn(model, pattern, tuple(transforms), tuple(float(o) for o in offsets),
                         int(border_pixels))
  names = list(layer_shapes(model, variables, pattern))
  per_layer = map_chunks(fn, variables, images, images_per_chunk=images_per_chunk,
                         shardings=shardings, say=say)
  return dict(zip(names, per_layer))


def summarize(per_image: dict[str, np.ndarray], transforms, shapes) -> list[dict]:
  """Per layer: name, shape, stride, per family (mean, stderr over images of the family's mean
  error) and per transformation mean errors."""
  entries = []
  for name, errors in per_image.items():
    shape = shapes[name]
    entry = {"name": name, "shape": list(shape),
             "stride": SIDE / shape[0] if len(shape) == 3 else None,
             "per_transform": {t.label: float(errors[:, i].mean())
                               for i, t in enumerate(transforms)}}
    for family in FAMILIES:
      columns = [i for i, t in enumerate(transforms) if t.family == family]
      entry[family] = metrics.stat(errors[:, columns].mean(1)) if columns else None
    entries.append(entry)
  return entries


def check(section, layer_names) -> None:
  """Raises ValueError for a bad config.alignment."""
  del layer_names
  build_transforms(section.translations, section.scales, section.rotations)
  _offsets(section.offsets)
  require_non_negative(section, "border")


def run(context, section) -> dict[str, Any]:
  """The analysis: best-alignment errors per layer and transformation family, JSON, plot."""
  transforms = build_transforms(section.translations, section.scales, section.rotations)
  per_image = alignment_by_layer(
      context.model, context.variables, context.images, transforms,
      pattern=context.config.layer_pattern, offsets=section.offsets,
      border_pixels=int(section.border), images_per_chunk=int(context.config.images_per_chunk),
      shardings=context.shardings, say=context.say)
  for name, errors in per_image.items():
    if not np.all(np.isfinite(errors)):
      raise ValueError(f"layer {name}: non-finite alignment errors (NaN or inf feature maps; "
                       "is the checkpoint diverged?)")
  entries = summarize(per_image, transforms, context.layer_shapes)
  context.save_arrays("alignment_per_image.npz", **per_image)
  panels = [(family, f"best alignment error\n{family}s") for family in FAMILIES
            if any(t.family == family for t in transforms)]
  path = context.output("alignment_by_layer.png", lambda path: layer_plots.plot_by_depth(
      [dict(label=context.model_label, layers=entries)], panels, path,
      title=f"{context.model_label}: error of the best alignment of the original image's maps "
            f"to the transformed image's ({len(context.images)} test images)\n"
            f"{', '.join(t.label for t in transforms)}\n{context.command}"))
  return {"transforms": [t.label for t in transforms], "offsets": list(section.offsets),
          "translation_candidates": "d/stride + offsets, floor(d/stride), ceil(d/stride)",
          "border": int(section.border), "layers": entries, "files": [path]}


ANALYSES.register("alignment")(Analysis(check, run))
