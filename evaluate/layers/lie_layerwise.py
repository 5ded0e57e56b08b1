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
from models.downsample import BlurPoolDownsampler, NoDownsampler, StrideDownsampler

AXES = ("y", "x")  # image axis 1 (rows) and 2 (columns) of NHWC
OUTPUTS: Registry[Callable[[jnp.ndarray], jnp.ndarray]] = Registry("network output")
OUTPUTS.register("logits")(lambda logits: logits)
OUTPUTS.register("probabilities")(lambda logits: jax.nn.softmax(logits, axis=-1))

# Downsampling strategies whose subsampling happens inside units (strided convs and pools,
# BlurPool modules). APS, LPS and ideal downsampling subsample in plain functions between
# modules, which would not be units: refused.
DECOMPOSABLE_DOWNSAMPLERS = (StrideDownsampler, NoDownsampler, BlurPoolDownsampler)
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
    self.names.append(self._name(context, kwargs))
    self.operations.append(type(context.module).__name__ + (
        "" if context.method_name == "__call__" else f".{context.method_name}"))
    self.shapes.append(tuple(out.shape))
    self.lie.append(self._own_lie_derivative(context, args, kwargs))
    if self.injections is not None:
      out = out + self.injections[len(self.names) - 1].astype(out.dtype)
    return out

  def _name(self, context, kwargs) -> str:
    path = list(context.module.path)
    if context.method_name != "__call__":
      path.append(kwargs["name"] if isinstance(kwargs.get("name"), str)
                  else context.method_name)
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
