"""Layer helpers shared by the models: padded convolution, max-pooling, normalisation, heads.

The helpers are plain functions meant to be called inside a Flax module's `@nn.compact`
method; the submodules they create (named by `name`) belong to that calling module, which
keeps parameter trees flat (e.g. params['conv1']['kernel']).

All arrays are NHWC. Compute happens in the dtype named by the model's `dtype` option;
parameters are always float32.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from common.registry import Registry
from models.padding import pad_spatial, same_pads

DTYPES: Registry[jnp.dtype] = Registry("dtype")
DTYPES.register("float32")(jnp.float32)
DTYPES.register("bfloat16")(jnp.bfloat16)
DTYPES.register("float16")(jnp.float16)

# He et al. (2015) initialisation, fan-out variant, as in the ResNet papers.
he_normal = nn.initializers.variance_scaling(2.0, "fan_out", "normal")

BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_EPSILON = 1e-5


def conv(x: jnp.ndarray, features: int, kernel_size: int, *, stride: int = 1, padding: str,
         dtype: str, name: str, use_bias: bool = False) -> jnp.ndarray:
  """Square convolution with 'same'-style padding in the given padding mode.

  Args:
    x: (N, H, W, C_in).
    features: output channels C_out.
    kernel_size: k (k x k kernel).
    stride: spatial stride s.
    padding: padding mode name ('zeros' | 'circular').
    dtype: compute dtype name.
    name: name of the created nn.Conv.
    use_bias: whether the convolution has a bias (False when a norm follows).

  Returns:
    (N, ceil(H / s), ceil(W / s), C_out).
  """
  pads = same_pads(kernel_size)
  if padding in CONV_FOLDED_PADDINGS:  # the convolution pads itself (no pad op outside it)
    conv_padding = CONV_FOLDED_PADDINGS[padding] or pads
  else:
    x, conv_padding = pad_spatial(x, pads, padding, fill=0.0), "VALID"
  return nn.Conv(features, (kernel_size, kernel_size), strides=(stride, stride),
                 padding=conv_padding, use_bias=use_bias, dtype=DTYPES.get(dtype),
                 param_dtype=jnp.float32, kernel_init=he_normal, name=name)(x)


# Padding modes that the convolution itself implements, with the nn.Conv padding that does
# it (None: the explicit same_pads). Zero padding is passed to nn.Conv as explicit pads
# instead of padding the map first and convolving with 'VALID': the same sum of the same
# products (equal up to float rounding); on XLA:CPU the conv's forward plus backward is
# markedly faster without the separate pad op (benchmarks/pytorch_peer.py,
# docs/performance.md "Speed against plain Flax and PyTorch"). Circular padding is nn.Conv's
# 'CIRCULAR' (a wrap pad of ((k-1)//2, k//2) = same_pads, then 'VALID': the same operations
# as pad_circular then 'VALID'), so that the pad belongs to the conv module: a module's input
# is then the unpadded map, as evaluate/layers/lie_layerwise.py needs.
CONV_FOLDED_PADDINGS = {"zeros": None, "circular": "CIRCULAR"}


def max_pool(x: jnp.ndarray, window: int, stride: int, *, padding: str) -> jnp.ndarray:
  """Max-pooling over window x window with 'same'-style padding in the given padding mode.

  'zeros' mode pads with -inf (padding never wins); 'circular' wraps around.
  (N, H, W, C) -> (N, ceil(H / stride), ceil(W / stride), C).
  Computed as a max over strided row slices, then over column slices (the values of
  reduce-window max-pooling; its gradient is elementwise selects instead of XLA's
  select-and-scatter, and ties share the gradient instead of giving it all to one input:
  both are valid subgradients). On XLA:CPU this is the fastest form measured at stride 1
  and 2 (docs/performance.md, Speed against plain Flax and PyTorch).
  """
  x = pad_spatial(x, same_pads(window), padding, fill=-jnp.inf)
  rows = elementwise_max(strided_slices(x, window, stride, axes=(1,)))
  return elementwise_max(strided_slices(rows, window, stride, axes=(2,)))


def strided_slices(x: jnp.ndarray, window: int, stride: int, axes: tuple[int, ...]):
  """The window**len(axes) slices of x whose elementwise max is VALID max-pooling over `axes`.

  Each slice starts at an offset (0..window-1 along every axis in `axes`) and takes every
  stride-th sample: (N, H, W, C) -> (N, (H - window) // stride + 1, ...) along `axes`.
  """
  offsets = [()]
  for _ in axes:
    offsets = [offset + (d,) for offset in offsets for d in range(window)]
  for offset in offsets:
    start, limit, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
    for axis, d in zip(axes, offset):
      out_size = (x.shape[axis] - window) // stride + 1
      start[axis], limit[axis], strides[axis] = d, d + (out_size - 1) * stride + 1, stride
    yield jax.lax.slice(x, start, limit, strides)


def elementwise_max(arrays) -> jnp.ndarray:
  """Elementwise maximum of a non-empty iterable of same-shaped arrays."""
  result = None
  for array in arrays:
    result = array if result is None else jnp.maximum(result, array)
  return result


def global_average_pool(x: jnp.ndarray) -> jnp.ndarray:
  """(N, H, W, C) -> (N, C): mean over all spatial positions (invariant to circular shifts)."""
  return jnp.mean(x, axis=(1, 2))


# A normalisation layer: (x, train) -> x, x of shape (N, H, W, C) or (N, C).
NormFn = Callable[[jnp.ndarray, bool], jnp.ndarray]


@dataclasses.dataclass(frozen=True)
class Norm:
  """A normalisation kind.

  Attributes:
    has_shift: whether the layer has its own learned shift (then a preceding conv needs no bias).
    has_scale: whether the layer has a learned scale (which make's zero_scale can start at 0).
    make: make(dtype=..., name=..., zero_scale=False) -> NormFn; call inside a compact method.
  """
  has_shift: bool
  has_scale: bool
  make: Callable[..., NormFn]


def _batch_norm(*, dtype: str, name: str, zero_scale: bool = False) -> NormFn:
  """BatchNorm over N, H, W; running statistics live in the 'batch_stats' collection.
  zero_scale: the learned scale starts at 0 instead of 1 (the layer starts as its shift)."""

  def apply(x: jnp.ndarray, train: bool) -> jnp.ndarray:
    return nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM,
                        epsilon=BATCH_NORM_EPSILON, dtype=DTYPES.get(dtype),
                        param_dtype=jnp.float32,
                        scale_init=nn.initializers.zeros if zero_scale else nn.initializers.ones,
                        name=name)(x)

  return apply


def _no_norm(*, dtype: str, name: str, zero_scale: bool = False) -> NormFn:
  """Identity: no normalisation layer (no scale: zero_scale is refused by the models)."""
  del dtype, name, zero_scale
  return lambda x, train: x


NORMS: Registry[Norm] = Registry("norm")
NORMS.register("batch")(Norm(has_shift=True, has_scale=True, make=_batch_norm))
NORMS.register("none")(Norm(has_shift=False, has_scale=False, make=_no_norm))


def dense(x: jnp.ndarray, features: int, *, dtype: str, name: str) -> jnp.ndarray:
  """Fully connected layer with bias: (N, D_in) -> (N, features)."""
  return nn.Dense(features, dtype=DTYPES.get(dtype), param_dtype=jnp.float32, name=name)(x)


def logits_layer(x: jnp.ndarray, num_classes: int, *, dtype: str,
                 name: str = "classifier") -> jnp.ndarray:
  """Final dense layer; returns float32 logits (N, num_classes) whatever the compute dtype."""
  return dense(x, num_classes, dtype=dtype, name=name).astype(jnp.float32)
