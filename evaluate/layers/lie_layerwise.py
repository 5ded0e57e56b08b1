"""Gruver et al.'s layer-wise Lie derivative (ICLR 2023, "The Lie derivative for measuring
learned equivariance"; ngruver/lie-deriv lee/layerwise_lee.py): each unit's own Lie
derivative, pushed to the output, so that the units' contributions add up to the network's.

The network is decomposed into UNITS: every call of a Flax module or module method that calls
no other (a leaf, found by Flax's method interception, nn.intercept_methods): convolutions
(with their padding), norms, dense layers, BlurPools, and the models' own operation methods
(`activate`: the nonlinearity; AlexNet's `max_pool`; `pool_features`: global average pooling
or flattening). What lies between units (residual sums, dtype casts, softmax on vectors)
commutes with both translations. For unit m with input u and axis a:

  L m(u) = d/dt  T_{-t} m(T_t u)   at t = 0        (m's own Lie derivative, on its own input)

with T_t a translation of evaluate/layers/translations.py ('fourier' or Gruver's
'bilinear'); vectors are not moved (T = identity). Its contribution is that tangent injected
at m's output and carried to the network's output f (logits, or softmax probabilities as in
the paper's code) by the Jacobian of the rest of the network:

  c_m(x) = J_{f <- m}(x) L m(u)        (classes,) per image and axis

computed exactly for all units at once from one vector-Jacobian product per class (10
classes: no random probes; the paper estimates ||c_m||^2 with random probes z, E (z . c_m)^2);
tests check one unit against its Jacobian-vector product. The chain rule telescopes: if every
operation is inside a unit (or commutes with T), sum_m c_m(x) = d/dt f(T_t x) at t = 0, the
end-to-end Lie derivative; `sum_residual` measures it (float rounding where the
decomposition is complete; the part of the network outside units otherwise).

How it differs from the cumulative Lie derivative (evaluate/layers/lie_derivative.py,
analysis 'lie_derivative'): that one differentiates the whole network up to each layer, so a
layer's value includes every earlier layer's error; here each unit is measured on its own,
and its error is weighed by how much of it reaches the output.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from common.errors import ConfigError
from common.registry import Registry
from data.normalize import normalize
from evaluate import metrics
from evaluate.layers.chunks import map_chunks
from evaluate.layers.registry import ANALYSES, Analysis
from evaluate.layers.translations import TRANSLATIONS, is_map
from evaluate.plots import layers as layer_plots
from models.afvit import AliasFreeViT
from models.cct import CompactConvolutionalTransformer
from models.downsample import BlurPoolDownsampler, NoDownsampler, StrideDownsampler
from models.vit import VisionTransformer

AXES = ("y", "x")  # image axis 1 (rows) and 2 (columns) of NHWC
OUTPUTS: Registry[Callable[[jnp.ndarray], jnp.ndarray]] = Registry("network output")
OUTPUTS.register("logits")(lambda logits: logits)
OUTPUTS.register("probabilities")(lambda logits: jax.nn.softmax(logits, axis=-1))

# Downsampling strategies whose subsampling happens inside units (strided convs and pools,
# BlurPool modules). APS, LPS and ideal downsampling subsample in plain functions between
# modules, which would not be units: refused.
DECOMPOSABLE_DOWNSAMPLERS = (StrideDownsampler, NoDownsampler, BlurPoolDownsampler)
# The vision transformers: attention mixes the tokens in plain functions inside a module that
# calls others (softmax of query-key products, the weighted sum of values), so it is no unit,
# and their dense layers and norms act on token sequences, which the translations do not move.
# Measured on tiny random-weight vit and cct (width 8, one block): the contributions miss 6%
# and 100% of the end-to-end value; afvit's method units cannot be re-applied. Refused.
TOKEN_MIXING_MODELS = (VisionTransformer, CompactConvolutionalTransformer, AliasFreeViT)
_TINY = 1e-12


def exact_at_zero(translate):
  """`translate` with its value replaced by the untranslated map, its derivatives kept:
  T_t v + stop_gradient(v - T_t v). At t = 0 the derivatives are T's, and the value is
  v exactly, not the FFT round trip of v (whose rounding noise would break the ties of a
  max-pool over a ReLU's zeros differently in a unit's own evaluation than in the network's,
  and the contributions would no longer add up)."""

  def translated(value, t, axis):
    moved = translate(value, t, axis)
    return moved + jax.lax.stop_gradient(value - moved) if is_map(value) else value

  return translated


def unit_lie_derivative(apply_unit: Callable[..., jnp.ndarray], args: tuple, kwargs: dict,
                        translate, axis: int) -> jnp.ndarray:
  """d/dt T_{-t} unit(T_t args) at t = 0: every map argument moved, a map output moved back."""

  def moved(t):
    out = apply_unit(*(translate(a, t, axis) for a in args), **kwargs)
    return translate(out, -t, axis)

  return jax.jvp(moved, (jnp.zeros((), jnp.float32),), (jnp.ones((), jnp.float32),))[1]


@dataclasses.dataclass
class _Units:
  """The interceptor: finds the units (leaf array calls) in call order, computes each one's
  own Lie derivative and adds `injections[k]` to unit k's output (None: nothing added)."""
  translate: Callable
  axis: int
  injections: Optional[tuple] = None
  names: list = dataclasses.field(default_factory=list)
  operations: list = dataclasses.field(default_factory=list)
  lie: list = dataclasses.field(default_factory=list)
  shapes: list = dataclasses.field(default_factory=list)  # each unit's output shape
  _open: list = dataclasses.field(default_factory=list)  # per open call: array calls inside?
  _busy: bool = False

  def __call__(self, next_fun, args, kwargs, context):
    if self._busy:  # the unit's own re-evaluation inside unit_lie_derivative
      return next_fun(*args, **kwargs)
    self._open.append(False)
    out = next_fun(*args, **kwargs)
    has_inner_calls = self._open.pop()
    array_call = isinstance(out, jax.Array) and any(isinstance(a, jax.Array) for a in args)
    if self._open and (array_call or has_inner_calls):
      self._open[-1] = True
    if not array_call or has_inner_calls:
      return out
    self.names.append(self._name(context, args, kwargs))
    self.operations.append(type(context.module).__name__ + (
        "" if context.method_name == "__call__" else f".{context.method_name}"))
    self.shapes.append(tuple(out.shape))
    self.lie.append(self._own_lie_derivative(context, args, kwargs))
    if self.injections is not None:
      out = out + self.injections[len(self.names) - 1].astype(out.dtype)
    return out

  def _name(self, context, args, kwargs) -> str:
    """The module's path, then for a method the name it is given (a string argument, e.g.
    activate(x, 'act1')) or its own; '#k' for the k-th call of the same."""
    path = list(context.module.path)
    if context.method_name != "__call__":
      given = [a for a in (*args, kwargs.get("name")) if isinstance(a, str)]
      path.append(given[0] if given else context.method_name)
    name = "/".join(path) or context.method_name
    repeats = sum(1 for earlier in self.names if earlier.split("#")[0] == name)
    return f"{name}#{repeats + 1}" if repeats else name

  def _own_lie_derivative(self, context, args, kwargs) -> jnp.ndarray:
    unbound, variables = context.module.clone(parent=None), context.module.variables
    apply_unit = functools.partial(unbound.apply, variables, method=context.method_name)
    self._busy = True
    try:
      return unit_lie_derivative(apply_unit, args, kwargs, self.translate, self.axis)
    finally:
      self._busy = False


def _network(model, variables, inputs, units: _Units, head) -> jnp.ndarray:
  with nn.intercept_methods(units):
    return head(model.apply(variables, inputs, train=False).astype(jnp.float32))


def layerwise_lie_derivatives(model, variables, inputs: jnp.ndarray, axis: int, *,
                              translation: str = "fourier", output: str = "logits"
                              ) -> tuple[list[str], jnp.ndarray, jnp.ndarray]:
  """Every unit's contribution and the end-to-end Lie derivative along image axis `axis`.

  Args:
    inputs: (n, 32, 32, 3) normalised model inputs (float32).
    translation: a TRANSLATIONS name; output: an OUTPUTS name.
  Returns:
    (unit names in call order, contributions (n, units, classes), end-to-end (n, classes)).
  """
  translate, head = exact_at_zero(TRANSLATIONS.get(translation)), OUTPUTS.get(output)
  probe = _Units(translate, axis)
  jax.eval_shape(lambda: _network(model, variables, inputs, probe, head))

  def network(injections):
    units = _Units(translate, axis, injections)
    return _network(model, variables, inputs, units, head), tuple(units.lie)

  zeros = tuple(jnp.zeros(shape, jnp.float32) for shape in probe.shapes)
  out, pull_back, lie = jax.vjp(network, zeros, has_aux=True)
  classes = out.shape[-1]
  one_hots = jnp.broadcast_to(jnp.eye(classes, dtype=out.dtype)[:, None, :],
                              (classes,) + out.shape)
  (cotangents,) = jax.vmap(pull_back)(one_hots)  # per unit: (classes, n, ...)
  contributions = jnp.stack(
      [jnp.einsum("cn...,n...->nc", cotangent, derivative.astype(jnp.float32))
       for cotangent, derivative in zip(cotangents, lie)], axis=1)
  _, end_to_end = jax.jvp(
      lambda t: head(model.apply(variables, translate(inputs, t, axis), train=False)
                     .astype(jnp.float32)),
      (jnp.zeros((), jnp.float32),), (jnp.ones((), jnp.float32),))
  return list(probe.names), contributions, end_to_end


def unit_names(model, variables) -> tuple[list[str], list[str]]:
  """(names, operations) of the units in call order (traced, not run)."""
  probe = _Units(TRANSLATIONS.get("fourier"), 1)
  jax.eval_shape(lambda v: _network(model, v, jnp.zeros((1, 32, 32, 3)), probe,
                                    OUTPUTS.get("logits")), variables)
  return list(probe.names), list(probe.operations)


@functools.lru_cache(maxsize=8)
def make_layerwise_fn(model, translation: str, output: str):
  """Jitted fn(variables, images (n, 32, 32, 3) uint8) -> (contributions (n, 2, units,
  classes), end-to-end (n, 2, classes)), axes (y, x)."""

  def measures(variables, images):
    inputs = normalize(images).astype(jnp.float32)
    per_axis = [layerwise_lie_derivatives(model, variables, inputs, axis,
                                          translation=translation, output=output)[1:]
                for axis in (1, 2)]
    return (jnp.stack([values[0] for values in per_axis], axis=1),
            jnp.stack([values[1] for values in per_axis], axis=1))

  return jax.jit(measures)


def layerwise_by_unit(model, variables, images: np.ndarray, *, translation: str = "fourier",
                      output: str = "logits", images_per_chunk: int = 25, shardings=None,
                      say=None) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
  """(unit names, operations, contributions (N, 2, units, classes), end-to-end (N, 2,
  classes)) over images (N, 32, 32, 3) uint8, axes (y, x); see the module docstring."""
  names, operations = unit_names(model, variables)
  fn = make_layerwise_fn(model, translation, output)
  contributions, end_to_end = map_chunks(fn, variables, images,
                                         images_per_chunk=images_per_chunk,
                                         shardings=shardings, say=say)
  return names, operations, contributions, end_to_end


def _stats(per_image_axis: np.ndarray) -> dict[str, Any]:
  """(N, 2) per image and axis -> {"mean", "stderr"} of the axis mean, and the mean per axis."""
  return dict(metrics.stat(per_image_axis.mean(1)),
              per_axis={axis: float(per_image_axis[:, i].mean()) for i, axis in enumerate(AXES)})


def _measures(key: str, vectors: np.ndarray) -> dict[str, Any]:
  """(N, 2, classes) -> {key: stats of the mean over classes of |c| (the normalisation of the
  paper's end-to-end measure), key_squared_norm: stats of sum_c c^2 (what the paper's
  layer-wise estimator averages)}."""
  return {key: _stats(np.abs(vectors).mean(-1)),
          f"{key}_squared_norm": _stats((vectors ** 2).sum(-1))}


def summarize(names, operations, contributions: np.ndarray, end_to_end: np.ndarray
              ) -> dict[str, Any]:
  """The JSON entry: per unit its contribution, the end-to-end value, and how far the sum of
  the contributions is from it (float rounding where every operation is a unit)."""
  gap = np.linalg.norm(contributions.sum(2) - end_to_end, axis=-1)  # (N, 2)
  scale = np.linalg.norm(end_to_end, axis=-1)
  return {"layers": [{"name": name, "operation": operation,
                      **_measures("contribution", contributions[:, :, index])}
                     for index, (name, operation) in enumerate(zip(names, operations))],
          **_measures("end_to_end", end_to_end),
          "sum_residual": {"max_abs": float(gap.max()),
                           "max_relative": float((gap / np.maximum(scale, _TINY)).max())}}


def check_decomposable(model) -> None:
  """Raises ConfigError for a model whose subsampling or token mixing is not inside units."""
  if isinstance(model, TOKEN_MIXING_MODELS):
    raise ConfigError(
        f"lie_derivative_layerwise: {type(model).__name__} is a vision transformer, whose "
        "attention mixes tokens outside any unit (and whose token sequences the translations "
        "do not move), so the network has no decomposition into units; use the cumulative "
        "'lie_derivative' or 'shiftability', which read its token maps as grids")
  downsampler = getattr(model, "downsampler", None)
  if downsampler is not None and not isinstance(downsampler, DECOMPOSABLE_DOWNSAMPLERS):
    raise ConfigError(
        f"lie_derivative_layerwise: {type(downsampler).__name__} subsamples outside modules, "
        f"so the network has no decomposition into units; supported downsampling: "
        f"{', '.join(kind.__name__ for kind in DECOMPOSABLE_DOWNSAMPLERS)}")


def check(section, layer_names) -> None:
  """Raises UnknownNameError for a bad config.lie_derivative_layerwise."""
  del layer_names
  TRANSLATIONS.get(section.translation)
  OUTPUTS.get(section.output)


def run(context, section) -> dict[str, Any]:
  """The analysis over the context's test images: JSON entry and per-image .npz."""
  check_decomposable(context.model)
  names, operations, contributions, end_to_end = layerwise_by_unit(
      context.model, context.variables, context.images, translation=section.translation,
      output=section.output, images_per_chunk=int(context.config.images_per_chunk),
      shardings=context.shardings, say=context.say)
  if not (np.all(np.isfinite(contributions)) and np.all(np.isfinite(end_to_end))):
    raise ValueError("non-finite layer-wise Lie derivative (is the checkpoint diverged?)")
  entry = summarize(names, operations, contributions, end_to_end)
  context.say(f"  sum of the {len(names)} contributions vs end-to-end: max relative gap "
              f"{entry['sum_residual']['max_relative']:.2e}")
  arrays = context.save_arrays("lie_derivative_layerwise_per_image.npz",
                               contributions=contributions, end_to_end=end_to_end,
                               names=np.array(names))
  path = context.output("lie_derivative_layerwise.png", lambda path: layer_plots.plot_by_depth(
      [dict(label=context.model_label, layers=entry["layers"])],
      [("contribution", f"contribution to the {section.output}\nmean over classes of |c|"),
       ("contribution_squared_norm", "squared norm\nsum over classes of c²")],
      path,
      title=f"{context.model_label}: each unit's own Lie derivative pushed to the "
            f"{section.output} ({section.translation} translation; y and x averaged), "
            f"{len(context.images)} test images (mean ± stderr)\n{context.command}"))
  return {"translation": section.translation, "output": section.output, "axes": list(AXES),
          **entry, "files": [arrays, path]}


ANALYSES.register("lie_derivative_layerwise")(Analysis(check, run))
