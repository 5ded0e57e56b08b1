"""The grid engine: softmax probabilities of every image at every grid point of a protocol.

`evaluate_grid` runs one jitted function per chunk of (images x grid points): it vmaps
protocol.transform over the chunk's images and their grid points, flattens (image, grid point)
into one batch sharded over the mesh's 'data' axis (as in training), runs the model and returns
(images, grid points, classes) probabilities plus, per image and group of grid points, the
min and max of every logit over the chunk's points; the chunks are assembled into one
(N, G, C) array of probabilities and into the logits' spread over each group
(GridResult.logit_spread: how exact an invariance is; the logits are not kept). Chunks are
sized from a memory bound per device (plan_chunks): several images with their whole grid when
one image's grid fits, else one image and a slice of its grid points; the bytes a chunk needs
come from the compiled chunk program's own memory report (plan_from_compiled), or, where the
backend gives none, from an estimate traced without compiling (bytes_per_grid_image). A
bound too small for even one model input per device is a ValueError raised before anything
is compiled. Any number of images works on any number of devices: every chunk is padded (by
repeating its last image or grid column, results discarded) to a multiple of the device
count. With keep_probs=False the (N, G, C) array is never built: each chunk of images is
handed to `on_rows` as soon as all its grid points are in (evaluate.grid_summary reduces it
to per-image values), so the host holds one chunk at a time.

`evaluate_grid_loop` is the reference: a plain Python loop over grid points, each a jitted
forward pass of the transformed images. Both return the same GridResult (up to float
rounding); the loop exists for tests and benchmarks.

Usage:
  predict = runtime.accuracy.make_predict_fn(model)
  result = evaluate_grid(predict, variables, images_uint8, labels, protocol)
  evaluate.metrics.p_top1_change(result.probs, result.pairs)
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import importlib.util
import math
import sys
from typing import Any, Callable

import jax
import jax.extend  # jax.extend.core.(Closed)Jaxpr in jaxpr_value_bytes; not loaded by `import jax`
import jax.numpy as jnp
import numpy as np

from common.errors import ConfigError
from data.constants import IMAGE_SHAPE
from evaluate.protocols import Protocol, sample_grid, sampled_points_per_group
from runtime.hosts import fetch
from runtime.mesh import MeshShardings, make_data_parallel_mesh

# predict(variables, images (B, 32, 32, 3) float pixel units 0..255) -> logits (B, C)
PredictFn = Callable[[Any, jnp.ndarray], jnp.ndarray]

DEFAULT_MAX_CHUNK_BYTES = 2 * 1024**3


@dataclasses.dataclass(frozen=True, eq=False)
class GridResult:
  """Predictions of N images at G grid points.

  Attributes:
    probs: (N, G, C) float32 softmax probabilities; None when evaluated with keep_probs=False
      (the caller reduced each chunk of images: evaluate_grid's on_rows).
    labels: (N,) int32 true classes.
    protocol_name: the PROTOCOLS name; protocol_options: its JSON-able options.
    grid: key -> int32 grid parameters, shape (G,) for a full grid (shared by every image) or
      (N, G) for sampled pairs (per image; see evaluate.protocols.sample_grid).
    pairs: (P, 2) int32 neighbouring grid columns; pair_group: (P,) int32 their groups.
    point_group: (G,) int32 group of each grid column (embedding size for embed_*; else 0).
    sampled: True for sampled pairs (per-image grids), False for the full grid.
    point_columns: (G_p,) int32 the grid columns the point metrics (accuracy, worst-case
      accuracy, consistency) use: every column for a full grid; the uniformly drawn points
      for a sampled grid (evaluate.protocols.sample_grid). None (default) = every column.
    logit_spread: (N, K) float32, per image and point group, the largest change of any
      logit over the group's evaluated grid points: max over classes of (max - min over
      points). 0 = exactly invariant on the grid. None when not computed (a GridResult
      built by hand); the engines always fill it.
    logit_groups: (K,) int32 the group of each column of logit_spread (sorted).
    chunking: how evaluate_grid cut the grid (SizedChunks.description: images and points
      per chunk, the bytes per device they were sized by and where that number came from);
      None for a result built otherwise.
  """
  probs: np.ndarray
  labels: np.ndarray
  protocol_name: str
  protocol_options: dict[str, Any]
  grid: dict[str, np.ndarray]
  pairs: np.ndarray
  pair_group: np.ndarray
  point_group: np.ndarray
  sampled: bool
  point_columns: np.ndarray | None = None
  logit_spread: np.ndarray | None = None
  logit_groups: np.ndarray | None = None
  chunking: dict[str, Any] | None = None

  def __post_init__(self):
    if self.point_columns is None:
      object.__setattr__(self, "point_columns",
                         np.arange(np.shape(self.point_group)[0], dtype=np.int32))

  @property
  def num_images(self) -> int:
    return np.shape(self.labels)[0]

  @property
  def num_points(self) -> int:
    return np.shape(self.point_group)[0]


@dataclasses.dataclass(frozen=True, eq=False)
class _PlannedGrid:
  """The grid an evaluation runs: per-image parameters (N, G) plus the result's description."""
  per_image: dict[str, np.ndarray]
  grid: dict[str, np.ndarray]
  pairs: np.ndarray
  pair_group: np.ndarray
  point_group: np.ndarray
  sampled: bool
  point_columns: np.ndarray


def _plan_grid(protocol: Protocol, num_images: int, seed: int) -> _PlannedGrid:
  if protocol.sample_pairs:
    sampled = sample_grid(protocol, num_images, seed)
    return _PlannedGrid(sampled.grid, sampled.grid, sampled.pairs, sampled.pair_group,
                        sampled.point_group, True, sampled.point_columns)
  per_image = {key: np.broadcast_to(values, (num_images, len(values)))
               for key, values in protocol.grid.items()}
  return _PlannedGrid(per_image, dict(protocol.grid), protocol.pairs, protocol.pair_group,
                      protocol.point_group, False,
                      np.arange(protocol.num_points, dtype=np.int32))


def planned_description(protocol: Protocol, num_images: int, seed: int) -> _PlannedGrid:
  """What evaluate_grid's result will say about its grid (pairs, pair_group, point_group,
  point_columns, grid, sampled) for these arguments, before it runs (for a GridSummarizer)."""
  return _plan_grid(protocol, num_images, seed)


def grid_size(protocol: Protocol) -> int:
  """Number of grid points evaluated per image: the full grid, or when sampled
  2 * sample_pairs per pair group plus min(sample_pairs, n_g) points per point group."""
  if protocol.sample_pairs:
    return (2 * protocol.sample_pairs * len(np.unique(protocol.pair_group))
            + sum(sampled_points_per_group(protocol).values()))
  return protocol.num_points


# --- memory bound -----------------------------------------------------------------------------


def jaxpr_value_bytes(jaxpr) -> int:
  """Sum of the sizes of every value an equation of `jaxpr` (and its sub-jaxprs) produces."""
  total = 0
  for equation in jaxpr.eqns:
    for var in equation.outvars:
      aval = var.aval
      if hasattr(aval, "shape") and hasattr(aval, "dtype"):
        total += math.prod(aval.shape) * np.dtype(aval.dtype).itemsize
    for param in equation.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        if isinstance(sub, jax.extend.core.ClosedJaxpr):
          total += jaxpr_value_bytes(sub.jaxpr)
        elif isinstance(sub, jax.extend.core.Jaxpr):
          total += jaxpr_value_bytes(sub)
  return total


def bytes_per_grid_image(predict: PredictFn, variables, protocol: Protocol) -> int:
  """Upper estimate of the memory (bytes) one model input (one image at one grid point) costs.

  The sum of the sizes of every intermediate value of transform + predict for one image at one
  grid point (traced with jax.make_jaxpr, nothing compiled or run; no buffer reuse assumed).
  A chunk of n images x p grid points is estimated at n * p times this.
  """
  point = {key: values[0] for key, values in protocol.grid.items()}

  def one(image):
    return predict(variables, protocol.transform(image, point)[None])

  jaxpr = jax.make_jaxpr(one)(jnp.zeros(IMAGE_SHAPE, jnp.float32))
  return jaxpr_value_bytes(jaxpr.jaxpr) + math.prod(IMAGE_SHAPE) * 4


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
  """The shape of every jitted call of evaluate_grid: `images` x `points` model inputs.

  Attributes:
    images: images per chunk (the last image chunk is padded by repeating its last image).
    points: grid points per chunk; the whole grid (G) when it fits, else fewer, and the
      grid is then cut into ceil(G / points) chunks of columns (the last one padded by
      repeating its last column).
  """
  images: int
  points: int

  @property
  def inputs(self) -> int:
    """Model inputs (transformed images) per chunk: images * points."""
    return self.images * self.points


def _round_up(value: int, step: int) -> int:
  return -(-value // step) * step


def _balanced(total: int, largest: int, step: int) -> int:
  """The size of the fewest equal chunks of at most `largest` (a multiple of `step`) covering
  `total`, rounded up to a multiple of `step` (so the last chunk is not mostly padding)."""
  num_chunks = -(-max(total, 1) // largest)
  return _round_up(-(-max(total, 1) // num_chunks), step)


def plan_chunks(num_images: int, points: int, bytes_per_input: int, max_chunk_bytes: int,
                images_per_chunk: int, num_devices: int) -> ChunkPlan:
  """Chunk shape (images x grid points) for `num_images` images at `points` grid points each.

  Every chunk holds a multiple of num_devices model inputs (images * points), so that its
  batch splits evenly over the mesh, and is estimated at inputs * bytes_per_input bytes.

  images_per_chunk = 0 (plan from the bound): whole grids when one image's grid fits (as many
  images per chunk as max_chunk_bytes allows, at most num_images, balanced over the fewest
  chunks); else one image per chunk and as many grid points as the bound allows (balanced over
  the fewest chunks of columns).
  images_per_chunk = n > 0: n images (at most num_images) with their whole grid, n rounded up
  so that the devices divide the batch, if that fits max_chunk_bytes; else n images and as
  many grid points as the bound allows (at least the fewest the devices accept).

  Raises:
    ValueError: max_chunk_bytes is too small for one model input per device (num_devices
      inputs, the smallest chunk the devices allow).
  """
  smallest = num_devices * bytes_per_input
  if smallest > max_chunk_bytes:
    raise ConfigError(
        f"grid too large for the memory bound: even the smallest chunk, one model input "
        f"(image x grid point) per device ({num_devices} input(s)), needs "
        f"~{smallest / 2**20:.2f} MiB > max_chunk_bytes = {max_chunk_bytes / 2**20:.2f} MiB. "
        f"Raise max_chunk_bytes, or use a smaller model.")
  inputs_allowed = max_chunk_bytes // bytes_per_input  # >= num_devices
  num_images = max(num_images, 1)
  image_step = num_devices // math.gcd(points, num_devices)  # images * points % devices == 0
  if images_per_chunk > 0:
    images = _round_up(min(images_per_chunk, num_images), image_step)
    if images * points <= inputs_allowed:
      return ChunkPlan(images, points)
    images = min(images_per_chunk, num_images)
  elif image_step * points <= inputs_allowed:
    largest = inputs_allowed // points // image_step * image_step
    return ChunkPlan(_balanced(num_images, largest, image_step), points)
  else:
    images = 1
  point_step = num_devices // math.gcd(images, num_devices)  # images * points % devices == 0
  largest = max(point_step, inputs_allowed // images // point_step * point_step)
  return ChunkPlan(images, _balanced(points, largest, point_step))


# Chunks in flight: evaluate_grid fetches a chunk once this many later ones are dispatched,
# so the devices keep working while the host reduces, and at most this many chunks' outputs
# wait on the devices.
_IN_FLIGHT = 2
# The compiled memory may re-size the chunks only when it changes the planned number of
# inputs per chunk by at least this factor (each re-size is one more compile).
_RESIZE_FACTOR = 2.0


def _variables_bytes(variables) -> int:
  """Bytes of the model variables on one device (they are replicated)."""
  return sum(int(np.prod(np.shape(leaf))) * np.dtype(leaf.dtype).itemsize
             for leaf in jax.tree.leaves(variables))


def compiled_bytes(compiled) -> int | None:
  """What a compiled program needs on one device by its own memory report (arguments +
  outputs + temporaries - aliased), or None where the backend gives no report."""
  try:
    stats = compiled.memory_analysis()
  except (NotImplementedError, RuntimeError, AttributeError):
    return None
  if stats is None:
    return None
  total = (stats.argument_size_in_bytes + stats.output_size_in_bytes
           + stats.temp_size_in_bytes - stats.alias_size_in_bytes)
  return int(total) if total > 0 else None


@dataclasses.dataclass(frozen=True)
class SizedChunks:
  """The chunk shape evaluate_grid runs and its compiled program.

  Attributes:
    plan: the ChunkPlan.
    compiled: the chunk program compiled for that shape (jax.stages.Compiled).
    bytes_per_device: what one chunk needs on one device: the compiled program's memory
      report, or the estimate (bytes_per_grid_image) where the backend gives none.
    source: 'compiled' or 'estimate'.
    compiles: how many chunk shapes were compiled to get here (1 or 2).
  """
  plan: ChunkPlan
  compiled: Any
  bytes_per_device: int
  source: str
  compiles: int

  def description(self) -> dict[str, Any]:
    """JSON-able: images, points, bytes_per_device, memory (source), compiles."""
    return {"images": self.plan.images, "points": self.plan.points,
            "bytes_per_device": int(self.bytes_per_device), "memory": self.source,
            "compiles": self.compiles}


def plan_from_compiled(chunk_fn, variables, per_image_grid: dict[str, np.ndarray],
                       num_groups: int, num_images: int, estimate_per_input: int,
                       max_chunk_bytes: int, images_per_chunk: int,
                       shardings: MeshShardings) -> SizedChunks:
  """Sizes the chunks from the compiled chunk program's own memory report, per device.

  First the chunks are planned from `estimate_per_input` (bytes_per_grid_image: the sum of
  every intermediate value, no buffer reuse, so usually far above the real need) and that
  shape is compiled; its memory report then gives the real bytes per model input on one
  device (beyond the replicated variables). If that re-plans the chunks by at least
  _RESIZE_FACTOR (more inputs per chunk where the estimate was pessimistic, or fewer where
  the report exceeds max_chunk_bytes), the new shape is compiled too and used if its own
  report fits the bound. Where the backend gives no report, the estimate's plan stands.
  A grid whose whole evaluation already fits one chunk is compiled once.

  Raises:
    ValueError: max_chunk_bytes too small for one model input per device (plan_chunks).
  """
  devices = shardings.num_devices
  points = next(iter(per_image_grid.values())).shape[1]

  def compile_for(plan: ChunkPlan):
    replicated = shardings.replicated
    grid = {key: jax.ShapeDtypeStruct(
                (plan.images, plan.points),
                jax.dtypes.canonicalize_dtype(np.asarray(values).dtype), sharding=replicated)
            for key, values in per_image_grid.items()}
    return chunk_fn.lower(
        variables,
        jax.ShapeDtypeStruct((plan.images, *IMAGE_SHAPE), jnp.uint8, sharding=replicated),
        grid,
        jax.ShapeDtypeStruct((plan.points, num_groups), jnp.bool_, sharding=replicated),
    ).compile()

  # Chunk-wide bytes per input such that inputs * it is the bytes on one device.
  first = plan_chunks(num_images, points, -(-estimate_per_input // devices), max_chunk_bytes,
                      images_per_chunk, devices)
  compiled = compile_for(first)
  measured = compiled_bytes(compiled)
  if measured is None:
    return SizedChunks(first, compiled, -(-first.inputs // devices) * estimate_per_input,
                       "estimate", 1)
  fixed = _variables_bytes(variables)
  per_input = max(1, -(-(measured - fixed) * devices // first.inputs))  # on one device
  room = max(max_chunk_bytes - fixed, 1)
  try:
    second = plan_chunks(num_images, points, -(-per_input // devices), room, images_per_chunk,
                         devices)
  except ValueError:
    second = first
  grows = second.inputs >= _RESIZE_FACTOR * first.inputs
  if not (grows or measured > max_chunk_bytes) or second == first:
    return SizedChunks(first, compiled, measured, "compiled", 1)
  resized = compile_for(second)
  resized_bytes = compiled_bytes(resized)
  if resized_bytes is not None and (resized_bytes <= max_chunk_bytes
                                    or measured > max_chunk_bytes):
    return SizedChunks(second, resized, resized_bytes, "compiled", 2)
  return SizedChunks(first, compiled, measured, "compiled", 2)


def check_fits(protocol: Protocol, predict: PredictFn, variables, max_chunk_bytes: int,
               num_devices: int | None = None) -> int:
  """Raises ValueError if max_chunk_bytes cannot hold one model input per device (see
  plan_chunks); returns the bytes of one model input (bytes_per_grid_image)."""
  per_input = bytes_per_grid_image(predict, variables, protocol)
  devices = num_devices or jax.device_count()
  plan_chunks(1, grid_size(protocol), -(-per_input // devices), max_chunk_bytes, 0, devices)
  return per_input


# --- the vmap engine --------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def make_chunk_fn(predict: PredictFn, protocol: Protocol, batch_sharding: jax.sharding.Sharding):
  """Returns jitted `chunk_probs(variables, images, grid, column_groups) -> (probs, low, high)`.

  images: (n, 32, 32, 3) uint8; grid: key -> (n, p) int32 per-image grid parameters (p grid
  points of each image: the whole grid or a slice of its columns); column_groups: (p, K) bool
  one-hot point group of each column; probs: (n, p, C) float32; low, high: (n, K, C) float32
  the min and max of every logit over the chunk's columns of each group (+inf / -inf for a
  group without columns here), so that the logits themselves never leave the device.
  The n * p transformed images form one batch sharded by `batch_sharding`. Cached per
  (predict, protocol, sharding), so repeated calls reuse the compiled function (one compile
  per chunk shape; evaluate_grid pads every chunk to the same shape).
  """

  def chunk_probs(variables, images, grid, column_groups):
    def one_image(image, points):
      return jax.vmap(lambda point: protocol.transform(image, point))(points)

    transformed = jax.vmap(one_image)(images.astype(jnp.float32), grid)
    n, points = transformed.shape[:2]
    flat = jax.lax.with_sharding_constraint(transformed.reshape(n * points, *IMAGE_SHAPE),
                                            batch_sharding)
    logits = predict(variables, flat).astype(jnp.float32)
    probs = jax.nn.softmax(logits, axis=-1).reshape(n, points, -1)
    logits = logits.reshape(n, points, 1, -1)
    member = column_groups[None, :, :, None]  # (1, p, K, 1)
    low = jnp.min(jnp.where(member, logits, jnp.inf), axis=1)
    high = jnp.max(jnp.where(member, logits, -jnp.inf), axis=1)
    return probs, low, high

  return jax.jit(chunk_probs)


class _LogitRange:
  """Running min and max of every logit per (image, point group), filled chunk by chunk:
  O(N * groups * C) memory instead of keeping the (N, G, C) logits (which would double the
  result's memory)."""

  def __init__(self, num_images: int, point_group: np.ndarray):
    self.num_images = num_images
    self.groups = np.unique(point_group).astype(np.int32)
    self.column_group = np.searchsorted(self.groups, point_group)  # (G,) index into groups
    self.low = self.high = None

  def column_groups(self, columns: slice, padded: int) -> np.ndarray:
    """(padded, K) bool one-hot group of grid columns `columns`, padded by repeating the
    last column (as pad_columns pads the grid)."""
    index = self.column_group[columns]
    index = np.concatenate([index, np.repeat(index[-1:], padded - len(index))])
    return index[:, None] == np.arange(len(self.groups))[None, :]

  def _allocate(self, num_classes: int):
    if self.low is None:
      shape = (self.num_images, len(self.groups), num_classes)
      self.low, self.high = np.full(shape, np.inf, np.float32), np.full(shape, -np.inf,
                                                                          np.float32)

  def merge(self, rows: slice, low: np.ndarray, high: np.ndarray):
    """low, high: (rows, K, C) per-group min and max of a chunk's valid rows."""
    self._allocate(low.shape[-1])
    self.low[rows] = np.minimum(self.low[rows], low)
    self.high[rows] = np.maximum(self.high[rows], high)

  def update(self, rows: slice, columns: slice, logits: np.ndarray):
    """logits: (rows, columns, C) of the valid (unpadded) part of a chunk."""
    self._allocate(logits.shape[-1])
    group_index = self.column_group[columns]
    for k in np.unique(group_index):
      selected = logits[:, group_index == k]
      self.low[rows, k] = np.minimum(self.low[rows, k], selected.min(1))
      self.high[rows, k] = np.maximum(self.high[rows, k], selected.max(1))

  def spread(self) -> np.ndarray:
    """(N, K) max over classes of (max - min) over the group's points."""
    return (self.high - self.low).max(-1)


def pad_rows(array: np.ndarray, rows: int) -> np.ndarray:
  """Pads axis 0 to `rows` by repeating the last row (static chunk shapes)."""
  missing = rows - array.shape[0]
  return np.concatenate([array, np.repeat(array[-1:], missing, 0)]) if missing else array


def pad_columns(array: np.ndarray, columns: int) -> np.ndarray:
  """Pads axis 1 of (n, p) to `columns` by repeating the last column (static chunk shapes)."""
  missing = columns - array.shape[1]
  return (np.concatenate([array, np.repeat(array[:, -1:], missing, 1)], 1) if missing
          else array)


def validate_images(images: np.ndarray, labels: np.ndarray):
  images = np.asarray(images)
  labels = np.asarray(labels, np.int32)
  if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
    raise ValueError(f"images must have shape (N, {', '.join(map(str, IMAGE_SHAPE))}), "
                     f"got {images.shape}")
  if labels.shape != images.shape[:1]:
    raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
  if images.shape[0] == 0:
    raise ValueError("no images to evaluate")
  return images, labels


def _result(probs, labels, protocol: Protocol, planned: _PlannedGrid,
            logit_range: _LogitRange, chunking: dict[str, Any] | None = None) -> GridResult:
  return GridResult(probs=probs, labels=labels, protocol_name=protocol.name,
                    protocol_options=dict(protocol.options), grid=planned.grid,
                    pairs=planned.pairs, pair_group=planned.pair_group,
                    point_group=planned.point_group, sampled=planned.sampled,
                    point_columns=planned.point_columns, logit_spread=logit_range.spread(),
                    logit_groups=logit_range.groups, chunking=chunking)


def progress_bar(items: list, name: str, show: bool):
  """`items`, behind a tqdm bar over them on stdout when `show` (and tqdm is installed)."""
  if not show or importlib.util.find_spec("tqdm") is None:
    return items
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(items, desc=name, unit="chunk", leave=False, file=sys.stdout, dynamic_ncols=True)


def evaluate_grid(predict: PredictFn, variables, images_uint8: np.ndarray, labels: np.ndarray,
                  protocol: Protocol, *, shardings: MeshShardings | None = None,
                  images_per_chunk: int = 0, max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
                  seed: int = 0, progress: bool = False,
                  on_rows: Callable[[slice, np.ndarray], None] | None = None,
                  keep_probs: bool = True) -> GridResult:
  """Evaluates every image at every grid point with one jitted vmap per chunk.

  A chunk is (images x grid points), shaped by plan_chunks: several images with their whole
  grid when one image's grid fits max_chunk_bytes, else one image (or images_per_chunk) and a
  slice of the grid's columns. Every chunk has the same shape (the last ones padded), so the
  jitted function compiles once, or twice when the compiled program's own memory report
  (plan_from_compiled) re-sizes the chunks.

  Args:
    predict: predict(variables, images float (B, 32, 32, 3) pixel units) -> logits (B, C),
      e.g. runtime.accuracy.make_predict_fn(model).
    variables: the model variables (replicated over the mesh here).
    images_uint8: (N, 32, 32, 3) uint8 clean images (host array).
    labels: (N,) int true classes.
    protocol: an evaluate.protocols.Protocol.
    shardings: runtime.mesh.MeshShardings (None = make_data_parallel_mesh()).
    images_per_chunk: images per jitted call (0 = planned from max_chunk_bytes).
    max_chunk_bytes: memory bound (bytes) of one chunk's program on one device (compiled
      memory report, else the estimate of bytes_per_grid_image).
    seed: seeds the per-image pairs of a protocol with sample_pairs > 0.
    progress: show a tqdm progress bar over the chunks on stdout (for a terminal).
    on_rows: called as on_rows(rows, probs) with the (n, G, C) probabilities of images
      `rows` at every grid column, once per chunk of images, in order (e.g.
      evaluate.grid_summary.GridSummarizer.add): reduce them there.
    keep_probs: False = the result holds no (N, G, C) probabilities (probs is None): the host
      then holds one chunk of images' probabilities at a time, whatever N and G.

  Returns:
    GridResult with probs (N, G, C) (None if not keep_probs), logit_spread (N, groups) and
    chunking (the chunk shape and the memory it was sized by).

  Raises:
    ValueError: bad shapes, or a max_chunk_bytes too small for one model input per device
      (before any compile).
  """
  images, labels = validate_images(images_uint8, labels)
  shardings = shardings or make_data_parallel_mesh()
  num_images = images.shape[0]
  planned = _plan_grid(protocol, num_images, seed)
  points = planned.point_group.shape[0]
  chunk_fn = make_chunk_fn(predict, protocol, shardings.batch)
  estimate = bytes_per_grid_image(predict, variables, protocol)  # as check_fits estimates
  variables = jax.device_put(variables, shardings.replicated)
  logit_range = _LogitRange(num_images, planned.point_group)
  sized = plan_from_compiled(chunk_fn, variables, planned.per_image, len(logit_range.groups),
                             num_images, estimate, max_chunk_bytes, images_per_chunk,
                             shardings)
  plan = sized.plan

  def dispatch(rows: slice, columns: slice):
    return _dispatch_chunk(sized.compiled, variables, images, planned, logit_range, plan,
                           shardings, rows, columns)

  chunks = [(slice(start, min(start + plan.images, num_images)),
             slice(first, min(first + plan.points, points)))
            for start in range(0, num_images, plan.images)
            for first in range(0, points, plan.points)]
  assembled = _AssembledRows(num_images, points, logit_range, on_rows, keep_probs)
  in_flight = collections.deque()  # (device outputs, rows, columns), at most _IN_FLIGHT
  for index, (rows, columns) in enumerate(progress_bar(chunks, protocol.name, progress)):
    in_flight.append((dispatch(rows, columns), rows, columns))
    last_chunk = index + 1 == len(chunks)
    while len(in_flight) > _IN_FLIGHT or (last_chunk and in_flight):
      # The oldest chunk: waiting for it leaves the next ones running on the devices.
      assembled.add(*in_flight.popleft())
  return _result(assembled.probs, labels, protocol, planned, logit_range,
                 chunking=sized.description())


def _dispatch_chunk(chunk_probs, variables, images: np.ndarray, planned: _PlannedGrid,
                    logit_range: _LogitRange, plan, shardings: MeshShardings, rows: slice,
                    columns: slice):
  """Starts the compiled `chunk_probs` on images `rows` at grid columns `columns`, padded to
  the plan's static (plan.images, plan.points) chunk shape; returns its device outputs
  (probs (images, points, C), per-group logit min and max (images, K, C)) without waiting."""
  chunk_images = jax.device_put(pad_rows(images[rows.start:rows.stop], plan.images),
                                shardings.replicated)
  chunk_grid = {
      key: jax.device_put(pad_columns(pad_rows(np.asarray(values[rows, columns]),
                                               plan.images), plan.points),
                          shardings.replicated)
      for key, values in planned.per_image.items()}
  column_groups = jax.device_put(logit_range.column_groups(columns, plan.points),
                                 shardings.replicated)
  return chunk_probs(variables, chunk_images, chunk_grid, column_groups)


class _AssembledRows:
  """Collects the chunks' outputs, in dispatch order, into whole rows of images: merges their
  logit range, hands each image row set over to `on_rows` once all its G grid columns are in,
  and (keep_probs) keeps the (N, G, C) probabilities as `probs` (None until the first rows)."""

  def __init__(self, num_images: int, points: int, logit_range: _LogitRange,
               on_rows: Callable[[slice, np.ndarray], None] | None, keep_probs: bool):
    self.num_images, self.points, self.logit_range = num_images, points, logit_range
    self.on_rows, self.keep_probs = on_rows, keep_probs
    self.probs: np.ndarray | None = None
    self._rows_buffer = None  # (rows, (n, G, C) probabilities of the columns in so far)

  def add(self, outputs, rows: slice, columns: slice) -> None:
    """Waits for one chunk's device `outputs` (images `rows` at grid `columns`) and adds it."""
    count = rows.stop - rows.start
    # Waits for this chunk; with several processes, the chunk's rows sharded over their
    # devices are gathered first.
    output, low, high = fetch(outputs)
    output = output[:count, :columns.stop - columns.start]
    if self._rows_buffer is None or self._rows_buffer[0] != rows:
      self._rows_buffer = (rows, np.empty((count, self.points, output.shape[-1]),
                                          output.dtype))
    self._rows_buffer[1][:, columns] = output
    self.logit_range.merge(rows, low[:count], high[:count])
    if columns.stop == self.points:  # every column of these images: hand them over
      if self.on_rows is not None:
        self.on_rows(rows, self._rows_buffer[1])
      if self.keep_probs:
        if self.probs is None:
          self.probs = np.empty((self.num_images, self.points, output.shape[-1]), output.dtype)
        self.probs[rows] = self._rows_buffer[1]
      self._rows_buffer = None


# --- the reference loop -----------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def make_point_fn(predict: PredictFn, protocol: Protocol, batch_sharding: jax.sharding.Sharding):
  """Returns jitted `point_probs(variables, images, point) -> (probs, logits)`: images
  (n, 32, 32, 3) uint8, point key -> (n,) int32 (one grid point per image), probs and
  logits (n, C) float32."""

  def point_probs(variables, images, point):
    transformed = jax.vmap(protocol.transform)(images.astype(jnp.float32), point)
    transformed = jax.lax.with_sharding_constraint(transformed, batch_sharding)
    logits = predict(variables, transformed).astype(jnp.float32)
    return jax.nn.softmax(logits, axis=-1), logits

  return jax.jit(point_probs)


def evaluate_grid_loop(predict: PredictFn, variables, images_uint8: np.ndarray,
                       labels: np.ndarray, protocol: Protocol, *,
                       shardings: MeshShardings | None = None, images_per_chunk: int = 0,
                       max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
                       seed: int = 0) -> GridResult:
  """The reference: a Python loop over grid points, a jitted batched forward pass for each.

  Same arguments and result as evaluate_grid; images_per_chunk = images per forward pass
  (rounded up to a multiple of the devices, not checked against the bound; 0 = as many as
  max_chunk_bytes allows for a single grid point).
  """
  images, labels = validate_images(images_uint8, labels)
  shardings = shardings or make_data_parallel_mesh()
  num_images = images.shape[0]
  planned = _plan_grid(protocol, num_images, seed)
  points = planned.point_group.shape[0]
  devices = shardings.num_devices
  plan = plan_chunks(num_images, 1,  # raises if nothing fits
                     -(-bytes_per_grid_image(predict, variables, protocol) // devices),
                     max_chunk_bytes, 0, devices)
  chunk = (_round_up(min(images_per_chunk, num_images), shardings.num_devices)
           if images_per_chunk > 0 else plan.images)
  point_probs = make_point_fn(predict, protocol, shardings.batch)
  variables = jax.device_put(variables, shardings.replicated)
  columns = []
  logit_range = _LogitRange(num_images, planned.point_group)
  for column in range(points):
    outputs = []
    for start in range(0, num_images, chunk):
      stop = min(start + chunk, num_images)
      chunk_images = jax.device_put(pad_rows(images[start:stop], chunk), shardings.replicated)
      point = {key: jax.device_put(pad_rows(np.asarray(values[start:stop, column]), chunk),
                                   shardings.replicated)
               for key, values in planned.per_image.items()}
      outputs.append((point_probs(variables, chunk_images, point), stop - start))
    outputs = [(fetch(output), count) for output, count in outputs]
    columns.append(np.concatenate([probs[:count] for (probs, _), count in outputs]))
    logits = np.concatenate([logits[:count] for (_, logits), count in outputs])
    logit_range.update(slice(0, num_images), slice(column, column + 1), logits[:, None])
  return _result(np.stack(columns, axis=1), labels, protocol, planned, logit_range)
