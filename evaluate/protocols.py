"""Evaluation protocols: clean image + grid point -> transformed image, and the grid of points.

The four protocols of Azulay & Weiss (2019, sec. 2), adapted to 32x32 CIFAR-10 images, plus the
exact test for circular-padded models. Each is registered in `PROTOCOLS` as a factory taking
keyword options (validated at once, errors name the field) and returning a `Protocol`:

  crop_shift      upscale by `scale` (source='upscale') or pad by `pad` (source='pad'), take the
                  32x32 window at every integer offset (dy, dx).
  embed_shift     downscale to side `size` (antialiased) and embed at every position (dy, dx) of a
                  32x32 canvas, for every size in `sizes`; background `fill` 'black' (pixel value
                  0 before normalisation), 'mean' (CIFAR10_MEAN: 0 after normalisation, what the
                  paper's code filled) or 'inpaint' (evaluate.inpaint).
  embed_scale     fixed position, side s versus s + 1 for every s in `sizes`.
  circular_shift  jnp.roll by (dy, dx): every roll (default) or |dy|, |dx| <= max_shift.
  fractional_shift  sub-pixel circular shift by (dy, dx) in steps of `step` pixel (1/2, 1/4...),
                  an FFT phase ramp (common.fourier.fourier_shift); integer (dy, dx) give
                  exactly jnp.roll. `band_limit` (BAND_LIMIT_MEANINGS) says what happens to
                  the Nyquist row and column, which no sub-pixel shift can move.

One protocol is not a grid:
  shift_attack    the sub-pixel adversary: a grid phase (every shift of the torus on a
                  fractional_shift grid, integer by default), then signed-gradient descent,
                  with a decaying step, of the margin of the unshifted prediction over
                  continuous (dy, dx) through fourier_shift from the worst grid points and
                  random starts (evaluate/attack.py runs it; ShiftAttack here).

Grid points are integers: keys 'dy', 'dx' (and 'size' for embed_*), except fractional_shift,
whose dy, dx are float32 pixels. Pairs are neighbouring grid points: one pixel (fractional_shift:
one `step`) apart along `direction` (DIRECTIONS), or sizes s and s + 1 (embed_scale).

The geometric cores are augment's (embed_resized, upscale_crop_at, pad_and_crop_at,
shift_image), so training augmentation and evaluation transform images identically.

Sampled grids (option sample_pairs = K > 0, the paper's protocol): the Protocol still describes
the full grid; `sample_grid` draws, independently per image, K pairs per group (for the pair
metrics) and K uniformly drawn points per group (for the point metrics), and returns per-image
grid parameters of shape (N, 2 * K * num_groups + points) (see SampledGrid).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Callable, ClassVar

import jax.numpy as jnp
import numpy as np

from common.errors import ConfigError
import augment
from augment.options import (require_bool, require_int, require_name, require_real,
                             require_resize_method)
from common.fourier import fourier_shift, remove_nyquist
from common.registry import Registry
from data.constants import IMAGE_SHAPE
from evaluate.inpaint import inpaint, reach

SIDE = IMAGE_SHAPE[0]

# (image (32, 32, 3) float32 pixel units, grid point {key: scalar}) -> image
TransformFn = Callable[[jnp.ndarray, Mapping[str, jnp.ndarray]], jnp.ndarray]


@dataclasses.dataclass(frozen=True, eq=False)
class Protocol:
  """A transform and the grid of parameters it is evaluated on.

  Attributes:
    name: the PROTOCOLS name (e.g. 'embed_shift').
    options: JSON-able dict of every option used (defaults filled in), including
      'fill_meaning' for protocols with a background.
    grid: key -> (G,) int32 array (float32 for fractional_shift); grid point g is
      {key: grid[key][g]}.
    pairs: (P, 2) int32 indices (g1, g2) of neighbouring grid points.
    pair_group: (P,) int32 group of each pair (embedding size s for embed_*, else 0).
    point_group: (G,) int32 group of each grid point (embedding size for embed_shift; the
      pair's s for embed_scale; else 0).
    transform_fn: pure, jittable TransformFn.
  """
  name: str
  options: dict[str, Any]
  grid: dict[str, np.ndarray]
  pairs: np.ndarray
  pair_group: np.ndarray
  point_group: np.ndarray
  transform_fn: TransformFn
  # Which evaluation engine runs it (evaluate.engines.ENGINES): every grid protocol here.
  kind: ClassVar[str] = "grid"

  @property
  def num_points(self) -> int:
    """G, the number of grid points."""
    return len(self.point_group)

  @property
  def sample_pairs(self) -> int:
    """Pairs per group drawn per image (0 = evaluate the full grid)."""
    return int(self.options.get("sample_pairs", 0))

  def transform(self, image: jnp.ndarray, grid_point: Mapping[str, jnp.ndarray]) -> jnp.ndarray:
    """Transforms one (32, 32, 3) float32 image (pixel units 0..255) at one grid point."""
    return self.transform_fn(image, grid_point)

  def point(self, index: int) -> dict[str, int | float]:
    """Grid point `index` as a dict of Python numbers (ints, floats for fractional_shift)."""
    return {key: values[index].item() for key, values in self.grid.items()}


PROTOCOLS: Registry[Callable[..., Protocol]] = Registry("evaluation protocol")

# Neighbour steps (d_dy, d_dx) of a one-pixel move.
DIRECTIONS: Registry[tuple[tuple[int, int], ...]] = Registry("shift direction")
DIRECTIONS.register("diagonal")(((1, 1),))
DIRECTIONS.register("horizontal")(((0, 1),))
DIRECTIONS.register("vertical")(((1, 0),))
DIRECTIONS.register("all")(((0, 1), (1, 0), (1, 1)))

# fractional_shift's two variants, recorded in its options (eval.json) as 'band_limit_meaning'.
BAND_LIMIT_MEANINGS = {
    True: ("band-limited: the image's Nyquist row and column are removed at every grid point, "
           "(0, 0) included, so the grid points differ by the shift alone (integer points: "
           "exact rolls of the band-limited image)"),
    False: ("raw image: at a non-integer shift d the Nyquist row/column is kept as the real "
            "part of its phase ramp, i.e. scaled by cos(pi d) (zero at half pixels, sign "
            "flipped at odd integers); integer points are exact rolls of the raw image"),
}

FILL_MEANINGS = {
    "black": "pixel value 0 before normalisation",
    "mean": "CIFAR10_MEAN, i.e. 0 after normalisation (the fill of the paper's code)",
    "inpaint": "repeated normalised convolution of the embedded image (evaluate.inpaint)",
}


def build_protocol(type_name: str, **options: Any) -> Protocol | ShiftAttack:
  """Builds protocol `type_name` (UnknownNameError listing names if unknown).

  Raises ValueError naming the field for an unknown or invalid option.
  """
  return PROTOCOLS.get(type_name)(**options)


def build_protocol_from_config(entry: Mapping[str, Any]) -> Protocol:
  """Builds a protocol from a config entry dict(type=<PROTOCOLS name>, **options)."""
  entry = dict(entry)
  if "type" not in entry:
    raise ConfigError(f"protocol entry needs a 'type' (one of {', '.join(PROTOCOLS.names())}), "
                      f"got {entry!r}")
  return build_protocol(entry.pop("type"), **entry)


def build_grid_protocol_from_config(entry: Mapping[str, Any]) -> Protocol:
  """build_protocol_from_config for users of the grid engine only (the layer analyses): a
  protocol that is not a grid (shift_attack) is a ValueError naming the grid types."""
  protocol = build_protocol_from_config(entry)
  if protocol.kind != Protocol.kind:
    grids = [name for name in PROTOCOLS.names() if name != protocol.name]
    raise ConfigError(f"needs a grid protocol ({', '.join(grids)}), got {protocol.name!r}")
  return protocol


# --- grids and pairs --------------------------------------------------------------------------


def _as_int_arrays(**columns) -> dict[str, np.ndarray]:
  return {key: np.asarray(values, np.int32) for key, values in columns.items()}


def neighbour_pairs(dy: np.ndarray, dx: np.ndarray, group: np.ndarray,
                    steps: Sequence[tuple[int, int]], wrap: int | None = None) -> np.ndarray:
  """(P, 2) int32 pairs (g1, g2) with the same group and (dy, dx)[g2] = (dy, dx)[g1] + step.

  wrap: if given, positions are compared modulo `wrap` (a torus, for circular shifts).
  """
  def key(g_group, g_dy, g_dx):
    if wrap is not None:
      g_dy, g_dx = g_dy % wrap, g_dx % wrap
    return int(g_group), int(g_dy), int(g_dx)

  index = {key(g, y, x): i for i, (g, y, x) in enumerate(zip(group, dy, dx))}
  pairs = []
  for step_y, step_x in steps:
    for i, (g, y, x) in enumerate(zip(group, dy, dx)):
      j = index.get(key(g, y + step_y, x + step_x))
      if j is not None and j != i:
        pairs.append((i, j))
  return np.asarray(pairs, np.int32).reshape(-1, 2)


def _square_positions(count: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """All (dy, dx) in [start, start + count)^2, row-major."""
  dy, dx = np.meshgrid(np.arange(start, start + count), np.arange(start, start + count),
                       indexing="ij")
  return dy.ravel(), dx.ravel()


def _finish(name: str, options: dict, grid: dict[str, np.ndarray], pairs: np.ndarray,
            pair_group: np.ndarray | None, point_group: np.ndarray, transform_fn) -> Protocol:
  if len(pairs) == 0:
    raise ConfigError(f"{name}: the options give a grid without any neighbouring pair "
                      f"({options})")
  if pair_group is None:
    pair_group = np.zeros(len(pairs))
  return Protocol(name=name, options=options, grid=grid, pairs=np.asarray(pairs, np.int32),
                  pair_group=np.asarray(pair_group, np.int32),
                  point_group=np.asarray(point_group, np.int32), transform_fn=transform_fn)


def _require_sizes(field: str, sizes, high: int) -> tuple[int, ...]:
  if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or not sizes:
    raise ConfigError(f"{field} must be a non-empty list of integers, got {sizes!r}")
  sizes = tuple(require_int(f"{field}[{i}]", s, low=1) for i, s in enumerate(sizes))
  for i, size in enumerate(sizes):
    if size > high:
      raise ConfigError(f"{field}[{i}] = {size} does not fit the {SIDE}x{SIDE} canvas "
                        f"(largest allowed here: {high})")
  if len(set(sizes)) != len(sizes):
    raise ConfigError(f"{field} has repeated sizes: {sizes}")
  return sizes


# --- backgrounds of embedded images -----------------------------------------------------------

# name -> factory(method, antialias, inpaint_iterations, inpaint_kernel) -> embed(image, size, y, x)
BACKGROUNDS: Registry[Callable[..., Callable]] = Registry("embedding fill")


def _constant_background(fill_name: str):
  def factory(method, antialias, inpaint_iterations, inpaint_kernel):
    del inpaint_iterations, inpaint_kernel

    def embed(image, size, y, x):
      return augment.embed_resized(image, size, y, x, fill_name, method=method,
                                   antialias=antialias)
    return embed
  return factory


BACKGROUNDS.register("black")(_constant_background("black"))
BACKGROUNDS.register("mean")(_constant_background("mean"))


@BACKGROUNDS.register("inpaint")
def _inpainted_background(method, antialias, inpaint_iterations, inpaint_kernel):
  def embed(image, size, y, x):
    canvas = augment.embed_resized(image, size, y, x, "black", method=method,
                                   antialias=antialias)
    coords = jnp.arange(SIDE)
    rows = (coords >= y) & (coords < y + size)
    cols = (coords >= x) & (coords < x + size)
    return inpaint(canvas, rows[:, None] & cols[None, :], iterations=inpaint_iterations,
                   kernel_size=inpaint_kernel)
  return embed


def _embedding_options(protocol: str, sizes, fill, method, antialias, inpaint_iterations,
                       inpaint_kernel, sample_pairs, size_high):
  """Validates the options embed_shift and embed_scale share; returns (options, embed)."""
  sizes = _require_sizes(f"{protocol}.sizes", sizes, size_high)
  require_name(f"{protocol}.fill", fill, BACKGROUNDS)
  require_resize_method(f"{protocol}.method", method)
  require_bool(f"{protocol}.antialias", antialias)
  inpaint_iterations = require_int(f"{protocol}.inpaint_iterations", inpaint_iterations, low=1)
  inpaint_kernel = require_int(f"{protocol}.inpaint_kernel", inpaint_kernel, low=3)
  if inpaint_kernel % 2 == 0:
    raise ConfigError(f"{protocol}.inpaint_kernel must be odd, got {inpaint_kernel}")
  if fill == "inpaint" and reach(inpaint_iterations, inpaint_kernel) < SIDE - min(sizes):
    raise ConfigError(
        f"{protocol}.inpaint_iterations={inpaint_iterations} with inpaint_kernel="
        f"{inpaint_kernel} fills only {reach(inpaint_iterations, inpaint_kernel)} pixels away "
        f"from the image; size {min(sizes)} needs {SIDE - min(sizes)}")
  sample_pairs = require_int(f"{protocol}.sample_pairs", sample_pairs, low=0)
  options = dict(sizes=list(sizes), fill=fill, fill_meaning=FILL_MEANINGS[fill], method=method,
                 antialias=antialias, inpaint_iterations=inpaint_iterations,
                 inpaint_kernel=inpaint_kernel, sample_pairs=sample_pairs)
  embed = BACKGROUNDS.get(fill)(method, antialias, inpaint_iterations, inpaint_kernel)
  return options, embed


# --- the protocols ----------------------------------------------------------------------------

# name -> (largest window offset given the options, window(image, dy, dx) factory)
CROP_SOURCES: Registry[Callable[..., tuple[int, Callable]]] = Registry("crop source")


@CROP_SOURCES.register("upscale")
def _upscale_source(*, scale, pad, fill, method):
  del pad, fill
  max_offset = int(np.floor(SIDE * scale - SIDE + 1e-6))
  return max_offset, lambda image, dy, dx: augment.upscale_crop_at(
      image, scale, dy, dx, method=method)


@CROP_SOURCES.register("pad")
def _pad_source(*, scale, pad, fill, method):
  del scale, method
  return 2 * pad, lambda image, dy, dx: augment.pad_and_crop_at(image, pad, dy, dx, fill)


@PROTOCOLS.register("crop_shift")
def crop_shift(*, source: str = "upscale", scale: float = 1.25, pad: int = 4,
               fill: str = "black", method: str = "linear", direction: str = "diagonal",
               sample_pairs: int = 0) -> Protocol:
  """The paper's "crop" protocol: a 32x32 window at every integer offset (dy, dx).

  Options:
    source: 'upscale' (the image upscaled by `scale`, offsets in [0, floor(32 * scale) - 32])
      or 'pad' (padded by `pad` pixels with `fill`, a augment.PADDINGS name; offsets in
      [0, 2 * pad]).
    scale: upscaling factor > 1 (source 'upscale'); method: its resize kernel.
    direction: a DIRECTIONS name; pairs are windows one pixel apart along it.
    sample_pairs: pairs drawn per image (0 = full grid).
  Grid: dy, dx = window offset (rows, columns) in the upscaled / padded image.
  """
  require_name("crop_shift.source", source, CROP_SOURCES)
  scale = require_real("crop_shift.scale", scale, low=1.0)
  pad = require_int("crop_shift.pad", pad, low=0)
  require_name("crop_shift.fill", fill, augment.PADDINGS)
  require_resize_method("crop_shift.method", method)
  steps = require_name("crop_shift.direction", direction, DIRECTIONS)
  sample_pairs = require_int("crop_shift.sample_pairs", sample_pairs, low=0)
  max_offset, window = CROP_SOURCES.get(source)(scale=scale, pad=pad, fill=fill, method=method)
  if max_offset < 1:
    raise ConfigError(f"crop_shift: source {source!r} with scale={scale}, pad={pad} leaves no "
                      f"room for a one-pixel shift (raise crop_shift.scale or crop_shift.pad)")
  dy, dx = _square_positions(max_offset + 1)
  group = np.zeros_like(dy)
  options = dict(source=source, scale=scale, pad=pad, fill=fill, method=method,
                 direction=direction, sample_pairs=sample_pairs, max_offset=max_offset)

  def transform(image, point):
    return window(image, point["dy"], point["dx"])

  return _finish("crop_shift", options, _as_int_arrays(dy=dy, dx=dx),
                 neighbour_pairs(dy, dx, group, steps), None, group, transform)


@PROTOCOLS.register("embed_shift")
def embed_shift(*, sizes: Sequence[int] = (16, 20, 24, 28), fill: str = "black",
                method: str = "linear", antialias: bool = True, inpaint_iterations: int = 16,
                inpaint_kernel: int = 5, direction: str = "diagonal",
                sample_pairs: int = 0) -> Protocol:
  """The paper's "embedding" protocol: every position of every embedded size.

  Options:
    sizes: embedded side lengths s, each in [1, 31] (s = 32 leaves no room to move).
    fill: 'black' | 'mean' | 'inpaint' (see FILL_MEANINGS; recorded as options['fill_meaning']).
    method, antialias: the downscaling kernel (augment.embed_resized).
    inpaint_iterations, inpaint_kernel: evaluate.inpaint.inpaint settings (fill 'inpaint').
    direction: a DIRECTIONS name; sample_pairs: pairs per size drawn per image (0 = full grid).
  Grid: size, and dy, dx = top-left corner, each in [0, 32 - size]; (33 - s)^2 points per s.
  Pairs and point groups are per size.
  """
  options, embed = _embedding_options("embed_shift", sizes, fill, method, antialias,
                                      inpaint_iterations, inpaint_kernel, sample_pairs,
                                      size_high=SIDE - 1)
  steps = require_name("embed_shift.direction", direction, DIRECTIONS)
  options["direction"] = direction
  columns = {"size": [], "dy": [], "dx": []}
  for size in options["sizes"]:
    dy, dx = _square_positions(SIDE - size + 1)
    columns["size"].append(np.full_like(dy, size))
    columns["dy"].append(dy)
    columns["dx"].append(dx)
  grid = _as_int_arrays(**{key: np.concatenate(value) for key, value in columns.items()})
  pairs = neighbour_pairs(grid["dy"], grid["dx"], grid["size"], steps)

  def transform(image, point):
    return embed(image, point["size"], point["dy"], point["dx"])

  return _finish("embed_shift", options, grid, pairs, grid["size"][pairs[:, 0]], grid["size"],
                 transform)


@PROTOCOLS.register("embed_scale")
def embed_scale(*, sizes: Sequence[int] = tuple(range(16, 32)), fill: str = "black",
                method: str = "linear", antialias: bool = True, inpaint_iterations: int = 16,
                inpaint_kernel: int = 5, sample_pairs: int = 0) -> Protocol:
  """The paper's scaling protocol: fixed position, side s versus s + 1.

  Options: as embed_shift (no direction); every s in `sizes` must be in [1, 31].
  Grid: for each s, two points (size s and s + 1) at the same top-left corner
  dy = dx = (32 - (s + 1)) // 2 (the pair's larger image centred); pair k = (2k, 2k + 1),
  pair_group = point_group = s.
  """
  options, embed = _embedding_options("embed_scale", sizes, fill, method, antialias,
                                      inpaint_iterations, inpaint_kernel, sample_pairs,
                                      size_high=SIDE - 1)
  small = np.asarray(options["sizes"])
  corner = (SIDE - (small + 1)) // 2
  grid = _as_int_arrays(size=np.stack([small, small + 1], 1).ravel(),
                        dy=np.repeat(corner, 2), dx=np.repeat(corner, 2))
  pairs = np.arange(2 * len(small)).reshape(-1, 2)

  def transform(image, point):
    return embed(image, point["size"], point["dy"], point["dx"])

  return _finish("embed_scale", options, grid, pairs, small, np.repeat(small, 2), transform)


@PROTOCOLS.register("circular_shift")
def circular_shift(*, max_shift: int | None = None, direction: str = "diagonal",
                   sample_pairs: int = 0) -> Protocol:
  """jnp.roll of the image by (dy, dx): the exact invariance test for circular-padded models.

  Options:
    max_shift: None (default) = every roll, dy, dx in [0, 31], pairs wrapping around the torus
      (1024 points); an int m in [1, 15] = dy, dx in [-m, m], no wrap-around.
    direction: a DIRECTIONS name; sample_pairs: pairs drawn per image (0 = full grid).
  """
  if max_shift is None:
    dy, dx = _square_positions(SIDE)
    wrap = SIDE
  else:
    max_shift = require_int("circular_shift.max_shift", max_shift, low=1, high=SIDE // 2 - 1)
    dy, dx = _square_positions(2 * max_shift + 1, start=-max_shift)
    wrap = None
  steps = require_name("circular_shift.direction", direction, DIRECTIONS)
  sample_pairs = require_int("circular_shift.sample_pairs", sample_pairs, low=0)
  group = np.zeros_like(dy)
  options = dict(max_shift=max_shift, direction=direction, sample_pairs=sample_pairs)

  def transform(image, point):
    return augment.shift_image(image, point["dy"], point["dx"], "circular")

  return _finish("circular_shift", options, _as_int_arrays(dy=dy, dx=dx),
                 neighbour_pairs(dy, dx, group, steps, wrap=wrap), None, group, transform)


def fractional_shift_image(image: jnp.ndarray, dy, dx, band_limit: bool) -> jnp.ndarray:
  """A (32, 32, 3) image circularly shifted by real (dy, dx) pixels (traced scalars allowed).

  band_limit: remove the image's Nyquist row and column first (common.fourier.remove_nyquist).
  Integer (dy, dx) are exact jnp.rolls (of the band-limited image if band_limit); other
  shifts the FFT phase ramp (common.fourier.fourier_shift), whose Nyquist row/column, where
  present, is scaled by cos(pi d) (BAND_LIMIT_MEANINGS). Values are not clipped.
  """
  base = remove_nyquist(image, (0, 1)) if band_limit else image
  whole_y, whole_x = jnp.round(dy), jnp.round(dx)
  rolled = augment.shift_image(base, whole_y.astype(jnp.int32), whole_x.astype(jnp.int32),
                               "circular")
  return jnp.where((whole_y == dy) & (whole_x == dx), rolled,
                   fourier_shift(base, (dy, dx), (0, 1)).astype(base.dtype))


@PROTOCOLS.register("fractional_shift")
def fractional_shift(*, step: float = 0.5, max_shift: float | None = 1.0,
                     direction: str = "diagonal", sample_pairs: int = 0,
                     band_limit: bool = False) -> Protocol:
  """Sub-pixel circular shifts (fractional_shift_image: exact rolls at integer points, the
  FFT phase ramp elsewhere; values not clipped): is a model consistent between grid steps?

  Options:
    step: the grid spacing in pixels, 1 / n for an integer n in [1, 16] (0.5: half pixels,
      0.25: quarter pixels; 1: integer rolls, the same images as circular_shift).
    max_shift: a multiple of `step` in [step, 15]: dy, dx in [-max_shift, max_shift] (no
      wrap-around; ((2 max_shift / step) + 1)^2 points); None = every shift of the torus,
      dy, dx in [0, 32) with pairs wrapping around ((32 / step)^2 points: 4096 for 1/2).
    direction: a DIRECTIONS name; pairs are grid points one `step` apart along it.
    sample_pairs: pairs drawn per image (0 = full grid: with max_shift=None every shift of
      the torus on the step grid, so the worst case over it is exhaustive).
    band_limit: True = remove the Nyquist row and column of the image at every grid point,
      (0, 0) included, so that only the shift differs between grid points; False (default) =
      the raw image, whose Nyquist row/column a non-integer shift d scales by cos(pi d). The
      options record which as 'band_limit_meaning' (BAND_LIMIT_MEANINGS).
  Grid: dy, dx float32 pixels.
  """
  step = require_real("fractional_shift.step", step, low=1 / 16, high=1.0)
  require_bool("fractional_shift.band_limit", band_limit)
  per_pixel = int(round(1 / step))
  if abs(per_pixel * step - 1) > 1e-9:
    raise ConfigError(f"fractional_shift.step must be 1 / n for an integer n (0.5, 0.25, ...), "
                      f"got {step}")
  if max_shift is None:
    units_y, units_x = _square_positions(SIDE * per_pixel)
    wrap = SIDE * per_pixel
  else:
    max_shift = require_real("fractional_shift.max_shift", max_shift, low=step,
                             high=SIDE // 2 - 1)
    units = int(round(max_shift * per_pixel))
    if abs(units - max_shift * per_pixel) > 1e-6:
      raise ConfigError(f"fractional_shift.max_shift must be a multiple of step={step}, got "
                        f"{max_shift}")
    units_y, units_x = _square_positions(2 * units + 1, start=-units)
    wrap = None
  steps = require_name("fractional_shift.direction", direction, DIRECTIONS)
  sample_pairs = require_int("fractional_shift.sample_pairs", sample_pairs, low=0)
  group = np.zeros_like(units_y)
  options = dict(step=step, max_shift=max_shift, direction=direction, sample_pairs=sample_pairs,
                 band_limit=band_limit, band_limit_meaning=BAND_LIMIT_MEANINGS[band_limit])
  grid = {"dy": (units_y / per_pixel).astype(np.float32),
          "dx": (units_x / per_pixel).astype(np.float32)}

  def transform(image, point):
    return fractional_shift_image(image, point["dy"], point["dx"], band_limit)

  return _finish("fractional_shift", options, grid,
                 neighbour_pairs(units_y, units_x, group, steps, wrap=wrap), None, group,
                 transform)


# --- the sub-pixel adversary -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class ShiftAttack:
  """The shift_attack protocol: what evaluate/attack.py needs to run it.

  Attributes:
    name: 'shift_attack'; options: JSON-able dict of every option (defaults filled in).
    grid_protocol: the fractional_shift Protocol (full grid) of the grid phase, or None
      (grid_step = 0: random starts only).
  """
  name: str
  options: dict[str, Any]
  grid_protocol: Protocol | None
  kind: ClassVar[str] = "attack"

  @property
  def band_limit(self) -> bool:
    return bool(self.options["band_limit"])

  @property
  def num_starts(self) -> int:
    """Ascent starts per image: grid_starts + random_starts."""
    return int(self.options["grid_starts"]) + int(self.options["random_starts"])

  @property
  def num_grid_points(self) -> int:
    return 0 if self.grid_protocol is None else self.grid_protocol.num_points

  @property
  def num_visited(self) -> int:
    """Points evaluated per image: the grid, the untransformed point, and every iterate
    (start included) of every start."""
    return (self.num_grid_points + 1
            + self.num_starts * (int(self.options["steps"]) + 1))

  def reference(self, image: jnp.ndarray) -> jnp.ndarray:
    """The image at shift (0, 0): itself, or band-limited (exactly)."""
    return fractional_shift_image(image, 0.0, 0.0, self.band_limit)

  def transform(self, image: jnp.ndarray, shift: jnp.ndarray) -> jnp.ndarray:
    """The (32, 32, 3) image shifted by shift = (dy, dx) float pixels through the FFT phase
    ramp alone (differentiable in the shift; integer shifts are rolls up to float rounding,
    ~1e-4 pixel), of the band-limited image if band_limit."""
    base = remove_nyquist(image, (0, 1)) if self.band_limit else image
    return fourier_shift(base, (shift[0], shift[1]), (0, 1)).astype(base.dtype)

  def project(self, shifts: jnp.ndarray) -> jnp.ndarray:
    """Shifts (..., 2) back into the attack's domain: modulo 32 on the torus (max_shift
    None: a shift by 32 is the identity), else clipped to [-max_shift, max_shift]."""
    limit = self.options["max_shift"]
    if limit is None:
      return jnp.mod(shifts, SIDE)
    return jnp.clip(shifts, -limit, limit)


@PROTOCOLS.register("shift_attack")
def shift_attack(*, grid_step: float = 1.0, grid_starts: int = 2, random_starts: int = 4,
                 steps: int = 10, step_size: float = 0.25, final_step_size: float = 0.01,
                 max_shift: float | None = None, band_limit: bool = False) -> ShiftAttack:
  """The sub-pixel adversary (evaluate/attack.py): per image, the worst shift found by
  (1) the full fractional_shift grid of spacing `grid_step` and (2) signed-gradient descent
  over continuous (dy, dx) through fourier_shift of the margin of the unshifted prediction
  (the logit of the top-1 class at (0, 0) minus the largest other logit: below 0 the
  prediction changed, whether or not it was right), with a decaying step.

  Options:
    grid_step: spacing of the grid phase, 1 / n pixels (1.0 = every integer roll: the
      circular_shift grid image for image, so the attack's adversarial accuracy is at most
      circular_shift's exhaustive worst-case accuracy, by construction); 0 = no grid phase.
    grid_starts: descents started from the grid points of lowest margin (0 with
      grid_step=0).
    random_starts: descents started from shifts drawn uniformly (seeded by config.eval.seed)
      over the domain.
    steps: descent steps per start (0 = evaluate the starts only).
    step_size: pixels each coordinate moves at the first step (times the sign of its
      gradient).
    final_step_size: pixels it moves at the last step, in (0, step_size]; the steps between
      decay geometrically (evaluate.attack.step_sizes), so that the iterates leave the
      lattice of the grid and settle on a continuous minimum (step_size = final_step_size:
      a constant step).
    max_shift: None = the whole torus (shifts modulo 32); a number m in (0, 15] = the box
      |dy|, |dx| <= m (a multiple of grid_step when there is a grid), iterates clipped to it.
    band_limit: attack the band-limited image (Nyquist row and column removed, as
      fractional_shift's band_limit=True), else the raw image (BAND_LIMIT_MEANINGS).
  """
  grid_step = require_real("shift_attack.grid_step", grid_step, low=0.0, high=1.0)
  grid_starts = require_int("shift_attack.grid_starts", grid_starts, low=0)
  random_starts = require_int("shift_attack.random_starts", random_starts, low=0)
  steps = require_int("shift_attack.steps", steps, low=0)
  step_size = require_real("shift_attack.step_size", step_size, low=1e-6, high=SIDE / 2)
  final_step_size = require_real("shift_attack.final_step_size", final_step_size, low=1e-6,
                                 high=step_size)
  require_bool("shift_attack.band_limit", band_limit)
  if max_shift is not None:
    max_shift = require_real("shift_attack.max_shift", max_shift, low=1e-6, high=SIDE // 2 - 1)
  grid_protocol = None
  if grid_step > 0:
    try:
      grid_protocol = fractional_shift(step=grid_step, max_shift=max_shift,
                                       band_limit=band_limit)
    except ValueError as error:
      raise ConfigError(f"shift_attack.grid_step / max_shift: {error}") from None
    if grid_starts > grid_protocol.num_points:
      raise ConfigError(f"shift_attack.grid_starts = {grid_starts} is more than the "
                        f"{grid_protocol.num_points} grid points")
  elif grid_starts:
    raise ConfigError("shift_attack.grid_starts needs a grid: set grid_step > 0 or "
                      "grid_starts = 0")
  if grid_starts + random_starts == 0:
    raise ConfigError("shift_attack needs at least one start (grid_starts + random_starts "
                      ">= 1)")
  options = dict(grid_step=grid_step, grid_starts=grid_starts, random_starts=random_starts,
                 steps=steps, step_size=step_size, final_step_size=final_step_size,
                 max_shift=max_shift, band_limit=band_limit,
                 band_limit_meaning=BAND_LIMIT_MEANINGS[band_limit])
  return ShiftAttack(name="shift_attack", options=options, grid_protocol=grid_protocol)


# --- sampled pairs ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class SampledGrid:
  """Per-image grid points of a sampled evaluation: drawn pairs, then drawn points.

  Attributes:
    index: (N, G') int32 indices into the protocol's full grid. Columns (2j, 2j + 1),
      j < P', are the j-th drawn pair of every image (P' = K pairs per pair group); the
      columns from 2 P' on (`point_columns`) are the drawn points (min(K, n_g) per point
      group g of n_g grid points).
    grid: key -> (N, G') int32 per-image grid parameters (full grid values at `index`).
    pairs: (P', 2) int32 [(0, 1), (2, 3), ...].
    pair_group: (P',) int32 group of each pair column.
    point_group: (G',) int32 group of each grid column.
    point_columns: (G' - 2 P',) int32 the columns of the drawn points, on which the point
      metrics (accuracy, worst-case accuracy, consistency) are computed.
  """
  index: np.ndarray
  grid: dict[str, np.ndarray]
  pairs: np.ndarray
  pair_group: np.ndarray
  point_group: np.ndarray
  point_columns: np.ndarray


def sampled_points_per_group(protocol: Protocol) -> dict[int, int]:
  """group -> points drawn per image for the point metrics: min(sample_pairs, n_g)."""
  groups, counts = np.unique(protocol.point_group, return_counts=True)
  return {int(g): min(protocol.sample_pairs, int(n)) for g, n in zip(groups, counts)}


def sample_grid(protocol: Protocol, num_images: int, seed: int) -> SampledGrid:
  """Draws, independently per image, K = protocol.sample_pairs pairs and K points per group.

  Pairs: K per pair group, uniformly (with replacement) among the full grid's pairs of that
  group, so that the pair metrics estimate their full-grid values without bias (the paper's
  protocol: a random position at which the one-pixel move fits, and that move).
  Points: min(K, n_g) distinct grid points per point group of n_g points, uniformly without
  replacement, so that every position has the same chance (which pair endpoints do not
  have: with diagonal moves the anti-diagonal corners are in no pair at all); the point
  metrics use these only. With K >= n_g they are the whole group, and its point metrics
  are exact. The same (num_images, seed) always gives the same draw.
  """
  per_group = protocol.sample_pairs
  if per_group < 1:
    raise ConfigError(f"{protocol.name}: sample_grid needs sample_pairs >= 1")
  rng = np.random.default_rng(seed)
  groups = np.unique(protocol.pair_group)
  drawn = []
  for group in groups:
    candidates = np.flatnonzero(protocol.pair_group == group)
    drawn.append(candidates[rng.integers(0, len(candidates), (num_images, per_group))])
  pair_index = np.concatenate(drawn, axis=1)  # (N, P')
  pair_points = protocol.pairs[pair_index].reshape(num_images, -1)  # (N, 2 P')
  pair_group = np.repeat(groups, per_group).astype(np.int32)
  points, point_groups = [], []
  for group, count in sampled_points_per_group(protocol).items():
    candidates = np.flatnonzero(protocol.point_group == group)
    order = np.argsort(rng.random((num_images, len(candidates))), axis=1)[:, :count]
    points.append(candidates[order])
    point_groups.append(np.full(count, group))
  index = np.concatenate([pair_points, *points], axis=1).astype(np.int32)
  point_group = np.concatenate([np.repeat(pair_group, 2), *point_groups]).astype(np.int32)
  return SampledGrid(
      index=index,
      grid={key: values[index] for key, values in protocol.grid.items()},
      pairs=np.arange(pair_points.shape[1], dtype=np.int32).reshape(-1, 2),
      pair_group=pair_group,
      point_group=point_group,
      point_columns=np.arange(pair_points.shape[1], index.shape[1], dtype=np.int32))
