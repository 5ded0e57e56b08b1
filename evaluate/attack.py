"""The sub-pixel adversary: `run_attack` evaluates a shift_attack protocol (ShiftAttack in
evaluate/protocols.py) on N images.

Per image, two phases:

  1. grid: every point of the protocol's fractional_shift grid (grid_step = 1: the 1024
     integer rolls, exactly the circular_shift images), through the grid engine
     (evaluate.grid.evaluate_grid: chunked, sharded). Its worst case is exhaustive over
     that grid.
  2. descent (the "ascent" of the names below and of eval.json's ascent_gain: an ascent of
     minus the margin): from the `grid_starts` grid points of lowest margin and `random_starts`
     uniformly drawn shifts, `steps` steps of signed-gradient descent of the margin of the
     unshifted prediction over continuous (dy, dx):
        margin(shift) = logit_k(shift) - max_(c != k) logit_c(shift),  k = top-1 at (0, 0)
        shift <- project(shift - step_t * sign(d margin / d shift))
     through the FFT phase ramp (common.fourier.fourier_shift: differentiable in the shift;
     project = modulo 32 on the torus, a clip in a box), with the step decaying geometrically
     from step_size to final_step_size (step_sizes). The margin is below 0 exactly where the
     prediction differs from the unshifted one, so the attack tries to change every image's
     prediction, whether or not it was right (for an image classified right, k is the true
     class and the margin is the true class's); the decaying step lets iterates that start
     on the grid leave its lattice (a constant step of 0.25 pixel from a grid point never
     does) and settle on a continuous minimum. Every start and every iterate is evaluated.
     One jitted function per chunk of (images x starts): the chunk's images and their
     starts form one batch sharded over the mesh's 'data' axis (as in the grid
     engine); the loop over steps is a lax.fori_loop inside it; BatchNorm runs in inference
     mode, so each start's gradient is its own.

The attack's results are over every point it visited (the grid, the untransformed image and
every iterate): an image counts as broken as soon as one visited point is misclassified
(adversarial accuracy) or predicts another class than the untransformed image (stable
prediction, the alias-free papers' "fraction of images whose prediction never changes").
Since the grid phase is part of what it visited, the attack's adversarial accuracy and
stable prediction are at most those of the grid alone: with grid_step = 1, at most
circular_shift's exhaustive values, by construction (not by luck of the ascent). Both stay
upper bounds of the true worst case over continuous shifts (the descent is local).
"The untransformed image" is the image at shift (0, 0): band-limited if band_limit.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from data.constants import IMAGE_SHAPE
from evaluate import grid as grid_engine
from evaluate import metrics
from evaluate.stats import per_image
from evaluate.json_values import finite_or_none, json_metric
from evaluate.protocols import SIDE, ShiftAttack
from runtime.hosts import fetch
from runtime.mesh import MeshShardings, make_data_parallel_mesh

_TINY = 1e-30  # floor of a probability before its log (a softmax underflows to 0 in float32)


@dataclasses.dataclass(frozen=True, eq=False)
class AttackResult:
  """Per-image results of a shift attack on N images (C classes).

  Attributes:
    labels: (N,) int32.
    options: the protocol's options.
    reference_correct: (N,) bool, classified right at shift (0, 0).
    grid_correct: (N,) bool, right at every grid point (None without a grid phase).
    grid_stable: (N,) bool, the same top-1 as at (0, 0) at every grid point (None without).
    correct: (N,) bool, right at every visited point (grid and ascent).
    stable: (N,) bool, the same top-1 as at (0, 0) at every visited point.
    worst_margin: (N,) float32, the smallest margin of the unshifted prediction found (the
      logit of the top-1 class at (0, 0) minus the largest other logit; below 0: the
      prediction changed there).
    worst_shift: (N, 2) float32, the (dy, dx) where it was found.
    logit_spread: (N,) float32, max over classes of (max - min) of the logit over the ascent's
      points and, separately, over the grid (the larger of the two: a lower bound of the
      spread over everything visited).
    num_visited: points evaluated per image.
  """
  labels: np.ndarray
  options: dict[str, Any]
  reference_correct: np.ndarray
  grid_correct: np.ndarray | None
  grid_stable: np.ndarray | None
  correct: np.ndarray
  stable: np.ndarray
  worst_margin: np.ndarray
  worst_shift: np.ndarray
  logit_spread: np.ndarray
  num_visited: int

  @property
  def num_images(self) -> int:
    return int(self.labels.shape[0])



# Per-image values of an attack beyond evaluate.stats.per_image's metrics, in the per-image file.
ATTACK_VALUES = ("worst_margin", "worst_dy", "worst_dx", "grid_worst_case_accuracy",
                 "grid_stable_prediction")


def per_image_values(result: AttackResult) -> per_image.PerImage:
  """The attack's per-image values in evaluate.stats.per_image's form (one group, 0), as the
  per-image file holds them: accuracy (at (0, 0)), worst_case_accuracy (right at every
  visited point: the adversarial accuracy), stable_prediction (the top-1 of (0, 0) at every
  visited point) and max_logit_change (AttackResult.logit_spread); the pair metrics and
  consistency do not apply (NaN); plus ATTACK_VALUES: the smallest margin found and its
  (dy, dx), and the grid phase alone (NaN without one)."""
  count = result.num_images
  nan = np.full(count, np.nan)
  grid = result.grid_correct is not None
  columns = {
      "accuracy": result.reference_correct, "worst_case_accuracy": result.correct,
      "consistency": nan, "p_top1_change": nan, "mac": nan,
      "stable_prediction": result.stable, "max_logit_change": result.logit_spread,
      "worst_margin": result.worst_margin, "worst_dy": result.worst_shift[:, 0],
      "worst_dx": result.worst_shift[:, 1],
      "grid_worst_case_accuracy": result.grid_correct if grid else nan,
      "grid_stable_prediction": result.grid_stable if grid else nan}
  return per_image.PerImage(
      groups=np.zeros(1, np.int64),
      values={name: np.asarray(value, np.float64).reshape(count, 1)
              for name, value in columns.items()})


def margin(logits: jnp.ndarray, classes: jnp.ndarray) -> jnp.ndarray:
  """(..., C) float32 logits, (...) int classes -> (...) the logit of the class minus the
  largest logit of the other classes (below 0: another class is the top-1)."""
  own = jnp.take_along_axis(logits, classes[..., None], axis=-1)[..., 0]
  others = jnp.where(jax.nn.one_hot(classes, logits.shape[-1], dtype=bool), -jnp.inf, logits)
  return own - others.max(-1)


def step_sizes(options: dict[str, Any]) -> np.ndarray:
  """(steps,) float32 the pixels each coordinate moves at each step: geometric from
  step_size to final_step_size (step_size * r^t, r = (final_step_size /
  step_size)^(1 / (steps - 1)); one step: step_size)."""
  steps = int(options["steps"])
  first, last = float(options["step_size"]), float(options["final_step_size"])
  if steps < 2:
    return np.full(steps, first, np.float32)
  return (first * (last / first) ** (np.arange(steps) / (steps - 1))).astype(np.float32)


def _ascent_value_bytes(predict, variables, attack: ShiftAttack) -> int:
  """Upper estimate of the memory (bytes) of one start's gradient step: the sum of every
  intermediate value of the margin and its gradient for one image (traced, not run)."""

  def loss(shift, image):
    logits = predict(variables, attack.transform(image, shift)[None]).astype(jnp.float32)
    return margin(logits, jnp.zeros((1,), jnp.int32)).sum()

  jaxpr = jax.make_jaxpr(jax.value_and_grad(loss))(jnp.zeros((2,), jnp.float32),
                                                  jnp.zeros(IMAGE_SHAPE, jnp.float32))
  return grid_engine.jaxpr_value_bytes(jaxpr.jaxpr) + math.prod(IMAGE_SHAPE) * 4


def check_fits(attack: ShiftAttack, predict, variables, max_chunk_bytes: int,
               num_devices: int | None = None) -> int:
  """Raises ValueError if max_chunk_bytes cannot hold one model input per device, for the
  grid phase or one gradient step per device; returns the bytes of one gradient step."""
  num_devices = num_devices or jax.device_count()
  if attack.grid_protocol is not None:
    grid_engine.check_fits(attack.grid_protocol, predict, variables, max_chunk_bytes,
                           num_devices)
  per_start = _ascent_value_bytes(predict, variables, attack)
  grid_engine.plan_chunks(1, attack.num_starts, per_start, max_chunk_bytes, 0, num_devices)
  return per_start


@functools.lru_cache(maxsize=16)
def make_ascent_fn(predict, attack: ShiftAttack, batch_sharding: jax.sharding.Sharding):
  """Jitted `ascent(variables, images, labels, starts) -> dict` (the descent of the margin,
  module docstring).

  images: (n, 32, 32, 3) uint8; labels: (n,) int32; starts: (n, p, 2) float32 (dy, dx).
  Returns per image: 'reference' (n, C) the logits at shift (0, 0) (attack.reference);
  'wrong' and 'changed' (n,) bool: at any iterate of any start, top-1 != label, and top-1 !=
  the top-1 at (0, 0); 'worst_margin' (n,), 'worst_shift' (n, 2); 'low' and 'high' (n, C)
  logit extremes over the iterates and (0, 0). The n * p shifted images of a step form one
  batch sharded by `batch_sharding`. Cached per (predict, attack, sharding).
  """
  steps = int(attack.options["steps"])
  sizes = jnp.asarray(step_sizes(attack.options)) if steps else jnp.zeros((1,), jnp.float32)

  def ascent(variables, images, labels, starts):
    x = images.astype(jnp.float32)
    n, p = starts.shape[:2]
    reference = jax.vmap(attack.reference)(x)
    if n % batch_sharding.mesh.size == 0:  # (the chunk plan divides n * p, not always n)
      reference = jax.lax.with_sharding_constraint(reference, batch_sharding)
    reference_logits = predict(variables, reference).astype(jnp.float32)
    reference_top1 = jnp.argmax(reference_logits, axis=-1)
    targets = jnp.broadcast_to(reference_top1[:, None], (n, p))

    def logits_at(shifts):
      moved = jax.vmap(lambda image, image_shifts: jax.vmap(
          lambda shift: attack.transform(image, shift))(image_shifts))(x, shifts)
      flat = jax.lax.with_sharding_constraint(moved.reshape(n * p, *IMAGE_SHAPE),
                                              batch_sharding)
      return predict(variables, flat).astype(jnp.float32).reshape(n, p, -1)

    def total_margin(shifts):
      logits = logits_at(shifts)
      margins = margin(logits, targets)
      return margins.sum(), (logits, margins)

    gradient = jax.grad(total_margin, has_aux=True)

    def record(state, shifts, logits, margins):
      top1 = jnp.argmax(logits, axis=-1)  # (n, p)
      best = jnp.argmin(margins, axis=1)  # (n,)
      best_margin = jnp.take_along_axis(margins, best[:, None], axis=1)[:, 0]
      best_shift = jnp.take_along_axis(shifts, best[:, None, None], axis=1)[:, 0]
      better = best_margin < state["worst_margin"]
      return {
          "wrong": state["wrong"] | jnp.any(top1 != labels[:, None], axis=1),
          "changed": state["changed"] | jnp.any(top1 != reference_top1[:, None], axis=1),
          "worst_margin": jnp.where(better, best_margin, state["worst_margin"]),
          "worst_shift": jnp.where(better[:, None], best_shift, state["worst_shift"]),
          "low": jnp.minimum(state["low"], logits.min(1)),
          "high": jnp.maximum(state["high"], logits.max(1)),
      }

    def step(t, carry):
      shifts, state = carry
      grads, (logits, margins) = gradient(shifts)
      state = record(state, shifts, logits, margins)
      return attack.project(shifts - sizes[t] * jnp.sign(grads)), state

    state = {"wrong": reference_top1 != labels, "changed": jnp.zeros((n,), bool),
             "worst_margin": jnp.full((n,), jnp.inf), "worst_shift": jnp.zeros((n, 2)),
             "low": reference_logits, "high": reference_logits}
    shifts, state = jax.lax.fori_loop(0, steps, step, (attack.project(starts), state))
    logits = logits_at(shifts)  # the last iterate, evaluated without a gradient
    return dict(record(state, shifts, logits, margin(logits, targets)),
                reference=reference_logits)

  return jax.jit(ascent)


def random_starts(attack: ShiftAttack, num_images: int, seed: int) -> np.ndarray:
  """(N, random_starts, 2) float32 shifts uniform over the attack's domain ([0, 32)^2 on the
  torus, [-m, m]^2 in a box): the same for the same (num_images, seed) however the images
  are chunked."""
  count = int(attack.options["random_starts"])
  rng = np.random.default_rng(seed)
  limit = attack.options["max_shift"]
  low, high = (0.0, float(SIDE)) if limit is None else (-limit, limit)
  return rng.uniform(low, high, (num_images, count, 2)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class _GridPhase:
  """The grid phase per image: top1 (N, G) at every grid point, starts (N, grid_starts, 2)
  at the grid points of lowest margin of the prediction at (0, 0), worst_margin (N,) and
  worst_shift (N, 2) there, and logit_spread (N,) over the grid."""
  top1: np.ndarray
  starts: np.ndarray
  worst_margin: np.ndarray
  worst_shift: np.ndarray
  logit_spread: np.ndarray


def probability_margins(probs: np.ndarray, classes: np.ndarray) -> np.ndarray:
  """(N, G) the margin (logit of classes[n] minus the largest other logit) at every grid
  point, from the probabilities (N, G, C): log p_k - log max_(c != k) p_c, the same difference
  of logits (the softmax's normaliser cancels), each probability floored at 1e-30."""
  own = np.take_along_axis(probs, classes[:, None, None], -1)[..., 0]
  others = probs.copy()
  np.put_along_axis(others, classes[:, None, None], -1.0, axis=-1)
  return np.log(np.maximum(own, _TINY)) - np.log(np.maximum(others.max(-1), _TINY))


def _grid_phase(predict, variables, images, labels, attack: ShiftAttack,
                **engine_options) -> _GridPhase:
  protocol = attack.grid_protocol
  result = grid_engine.evaluate_grid(predict, variables, images, labels, protocol,
                                     **engine_options)
  probs = np.asarray(result.probs)
  points = np.stack([protocol.grid["dy"], protocol.grid["dx"]], -1)  # (G, 2)
  origin = int(np.flatnonzero(np.all(points == 0, axis=1))[0])  # every grid holds (0, 0)
  margins = probability_margins(probs, probs[:, origin].argmax(-1))
  order = np.argsort(margins, axis=1, kind="stable")
  worst = order[:, 0]
  return _GridPhase(top1=probs.argmax(-1),
                    starts=points[order[:, :int(attack.options["grid_starts"])]].astype(
                        np.float32),
                    worst_margin=margins[np.arange(len(labels)), worst].astype(np.float32),
                    worst_shift=points[worst].astype(np.float32),
                    logit_spread=np.asarray(result.logit_spread).max(1))


def run_attack(predict, variables, images_uint8: np.ndarray, labels: np.ndarray,
               attack: ShiftAttack, *, shardings: MeshShardings | None = None,
               images_per_chunk: int = 0,
               max_chunk_bytes: int = grid_engine.DEFAULT_MAX_CHUNK_BYTES, seed: int = 0,
               progress: bool = False) -> AttackResult:
  """Runs the shift attack on every image (module docstring).

  Args:
    predict: predict(variables, images float (B, 32, 32, 3) pixel units) -> logits (B, C).
    variables: the model variables (replicated over the mesh here).
    images_uint8: (N, 32, 32, 3) uint8; labels: (N,) int.
    attack: an evaluate.protocols.ShiftAttack.
    shardings: the mesh (None = make_data_parallel_mesh()).
    images_per_chunk: images per jitted call (0 = planned from max_chunk_bytes), as in the
      grid engine; a chunk of the ascent holds images x starts gradient steps.
    max_chunk_bytes: memory bound of one chunk (grid engine's estimate; for the ascent, of
      one start's margin and its gradient).
    seed: draws the random starts.
    progress: tqdm bars on stdout.
  Raises:
    ValueError: bad shapes, or a bound too small for one input per device (before any
      compile).
  """
  images, labels = grid_engine.validate_images(images_uint8, labels)
  shardings = shardings or make_data_parallel_mesh()
  num_images = images.shape[0]
  per_start = check_fits(attack, predict, variables, max_chunk_bytes, shardings.num_devices)
  variables = jax.device_put(variables, shardings.replicated)
  starts = random_starts(attack, num_images, seed)
  grid = None
  if attack.grid_protocol is not None:
    grid = _grid_phase(predict, variables, images, labels, attack, shardings=shardings,
                       images_per_chunk=images_per_chunk, max_chunk_bytes=max_chunk_bytes,
                       seed=seed, progress=progress)
    starts = np.concatenate([grid.starts, starts], axis=1)

  plan = grid_engine.plan_chunks(num_images, attack.num_starts, per_start, max_chunk_bytes,
                                 images_per_chunk, shardings.num_devices)
  outputs = _dispatch_ascent(make_ascent_fn(predict, attack, shardings.batch), variables,
                             images, labels, starts, attack.num_starts, plan, shardings)
  ascent = _gather_ascent(outputs, num_images, progress)
  return _attack_result(ascent, grid, labels, attack)


def _dispatch_ascent(ascent, variables, images: np.ndarray, labels: np.ndarray,
                     starts: np.ndarray, num_starts: int, plan,
                     shardings: MeshShardings) -> list[tuple[Any, slice]]:
  """Starts the jitted `ascent` on every chunk of (plan.images images x plan.points starts),
  padded to that static shape; returns [(device outputs, image rows)] without waiting.
  starts: (N, num_starts, 2) float32 shifts (dy, dx) in pixels."""
  num_images = images.shape[0]
  outputs = []
  for first_row in range(0, num_images, plan.images):
    rows = slice(first_row, min(first_row + plan.images, num_images))
    put = lambda array: jax.device_put(  # noqa: E731
        grid_engine.pad_rows(np.asarray(array[rows]), plan.images), shardings.replicated)
    chunk_images, chunk_labels = put(images), put(labels)
    for first in range(0, num_starts, plan.points):
      columns = slice(first, min(first + plan.points, num_starts))
      chunk_starts = grid_engine.pad_columns(
          grid_engine.pad_rows(starts[rows, columns], plan.images), plan.points)
      outputs.append((ascent(variables, chunk_images, chunk_labels,
                             jax.device_put(chunk_starts, shardings.replicated)), rows))
  return outputs


@dataclasses.dataclass(frozen=True)
class _AscentPhase:
  """The ascent phase per image, over all its starts: wrong (N,) and changed (N,) bool (some
  visited shift misclassifies / changes the top-1 of the unshifted image), worst_margin (N,)
  float32 and worst_shift (N, 2) where the margin was lowest, reference (N, C) logits of the
  unshifted image, low and high (N, C) per-class min and max logits over the visited shifts."""
  wrong: np.ndarray
  changed: np.ndarray
  worst_margin: np.ndarray
  worst_shift: np.ndarray
  reference: np.ndarray
  low: np.ndarray
  high: np.ndarray


def _gather_ascent(outputs: list[tuple[Any, slice]], num_images: int,
                   progress: bool) -> _AscentPhase:
  """Waits for the chunks of _dispatch_ascent in order and reduces them per image."""
  wrong, changed = np.zeros(num_images, bool), np.zeros(num_images, bool)
  worst_margin = np.full(num_images, np.inf, np.float32)
  worst_shift = np.zeros((num_images, 2), np.float32)
  low = high = reference = None
  for output, rows in grid_engine.progress_bar(outputs, "shift_attack", progress):
    count = rows.stop - rows.start
    # (with several processes, rows sharded over their devices are gathered first)
    output = {key: value[:count] for key, value in fetch(output).items()}
    if low is None:
      low = np.full((num_images, output["low"].shape[-1]), np.inf, np.float32)
      high, reference = -low, np.zeros_like(low)
    reference[rows] = output["reference"]
    wrong[rows] |= output["wrong"]
    changed[rows] |= output["changed"]
    better = output["worst_margin"] < worst_margin[rows]
    worst_margin[rows] = np.where(better, output["worst_margin"], worst_margin[rows])
    worst_shift[rows] = np.where(better[:, None], output["worst_shift"], worst_shift[rows])
    low[rows] = np.minimum(low[rows], output["low"])
    high[rows] = np.maximum(high[rows], output["high"])
  return _AscentPhase(wrong, changed, worst_margin, worst_shift, reference, low, high)


def _attack_result(ascent: _AscentPhase, grid: _GridPhase | None, labels: np.ndarray,
                   attack: ShiftAttack) -> AttackResult:
  """The attack's result: the ascent's, and where there was a grid phase, the worse of the
  two per image."""
  worst_margin, worst_shift = ascent.worst_margin, ascent.worst_shift
  reference_top1 = ascent.reference.argmax(-1)
  correct, stable = ~ascent.wrong, ~ascent.changed
  spread = (ascent.high - ascent.low).max(-1)
  grid_correct = grid_stable = None
  if grid is not None:
    grid_correct = (grid.top1 == labels[:, None]).all(1)
    grid_stable = (grid.top1 == reference_top1[:, None]).all(1)
    correct, stable = correct & grid_correct, stable & grid_stable
    better = grid.worst_margin < worst_margin
    worst_margin = np.where(better, grid.worst_margin, worst_margin).astype(np.float32)
    worst_shift = np.where(better[:, None], grid.worst_shift, worst_shift)
    spread = np.maximum(spread, grid.logit_spread)
  return AttackResult(
      labels=labels, options=dict(attack.options), reference_correct=reference_top1 == labels,
      grid_correct=grid_correct, grid_stable=grid_stable, correct=correct, stable=stable,
      worst_margin=worst_margin, worst_shift=worst_shift.astype(np.float32),
      logit_spread=spread.astype(np.float32), num_visited=attack.num_visited)


def _domain(options: dict[str, Any]) -> str:
  return ("the torus" if options["max_shift"] is None
          else f"|dy|, |dx| <= {options['max_shift']}")


def describe_grid(options: dict[str, Any]) -> str:
  """What the grid phase covers, in words."""
  image = "band-limited" if options["band_limit"] else "raw"
  return f"every {options['grid_step']:g}-pixel shift of {_domain(options)} ({image} image)"


def describe(options: dict[str, Any], num_visited: int) -> str:
  """What the attack's worst case is over, in words."""
  image = "band-limited" if options["band_limit"] else "raw"
  grid = describe_grid(options) + ", then " if options["grid_step"] > 0 else ""
  first = options["step_size"]
  last = options.get("final_step_size", first)  # (absent before the decaying step)
  steps = f"{first:g} px" if last == first else f"{first:g} down to {last:g} px"
  return (f"{grid}signed-gradient descent of the margin of the unshifted prediction over "
          f"continuous shifts of {_domain(options)} ({image} image) from "
          f"{options['grid_starts']} grid + {options['random_starts']} random starts, "
          f"{options['steps']} steps of {steps}: {num_visited} points per image (an upper "
          "bound of the continuous worst case)")


def attack_entry(result: AttackResult, *, protocol_type: str, seconds: float,
                 values: per_image.PerImage | None = None) -> dict[str, Any]:
  """The JSON-able report entry of a shift attack, shaped like evaluate.report's grid
  entries and, like them, summarised from the per-image values (per_image_values; computed
  when not given): "metrics" holds accuracy (at shift (0, 0)), worst_case_accuracy (the
  adversarial accuracy: right at every visited point) and stable_prediction (the same top-1
  as at (0, 0) at every visited point); the pair metrics and consistency do not apply
  (absent). "adversarial" holds the same numbers with what they are over, and the grid phase
  alone ("grid", exhaustive over its grid) with the number of images the ascent broke beyond
  it ("ascent_gain")."""
  values = values if values is not None else per_image_values(result)
  stat = lambda name: json_metric(per_image.pooled_stat(values.values[name]))  # noqa: E731
  options = dict(result.options)
  grid = None
  if result.grid_correct is not None:
    grid = {"over": describe_grid(options),
            "exhaustive": True,
            "worst_case_accuracy": stat("grid_worst_case_accuracy"),
            "stable_prediction": stat("grid_stable_prediction"),
            "ascent_gain": {
                "worst_case_accuracy": int(np.sum(result.grid_correct & ~result.correct)),
                "stable_prediction": int(np.sum(result.grid_stable & ~result.stable))}}
  return {
      "type": protocol_type,
      "kind": "attack",
      "options": options,
      "sampled": False,
      "sampling": None,
      "num_grid_points": int(result.num_visited),
      "num_pairs": 0,
      "seconds": float(seconds),
      "pooling": metrics.POOLING_ONE_GROUP,
      "metrics": {name: stat(name) for name in per_image.MEAN_METRICS
                  if not np.all(np.isnan(values.values[name]))},
      "adversarial": {
          "exhaustive": False,
          "num_grid_points": int(result.num_visited),
          "over": describe(options, result.num_visited),
          "stable_prediction": stat("stable_prediction"),
          "worst_case_accuracy": stat("worst_case_accuracy"),
          "by_group": None,
          "grid": grid,
      },
      "max_logit_change": finite_or_none(
          per_image.max_over_images(values.values["max_logit_change"])),
      "by_group": None,
      "per_grid_point": None,
  }
