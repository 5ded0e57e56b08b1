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
  x = pad_spatial(x, same_pads(kernel_size), padding, fill=0.0)
  return nn.Conv(features, (kernel_size, kernel_size), strides=(stride, stride),
                 padding="VALID", use_bias=use_bias, dtype=DTYPES.get(dtype),
                 param_dtype=jnp.float32, kernel_init=he_normal, name=name)(x)


def max_pool(x: jnp.ndarray, window: int, stride: int, *, padding: str) -> jnp.ndarray:
  """Max-pooling over window x window with 'same'-style padding in the given padding mode.

  'zeros' mode pads with -inf (padding never wins); 'circular' wraps around.
  (N, H, W, C) -> (N, ceil(H / stride), ceil(W / stride), C).
  """
  x = pad_spatial(x, same_pads(window), padding, fill=-jnp.inf)
  return _max_over_window_slices(x, window, stride)


def _max_over_window_slices(x: jnp.ndarray, window: int, stride: int) -> jnp.ndarray:
  """VALID max-pooling as an elementwise max of the window*window strided slices of x.

  Same values as reduce-window max-pooling; its gradient is elementwise selects instead of
  XLA's select-and-scatter, which is about 5x faster on CPU (ties share the gradient equally
  instead of giving it all to one input: both are valid subgradients).
  """
  n, height, width, channels = x.shape
  out_h, out_w = (height - window) // stride + 1, (width - window) // stride + 1
  result = None
  for dy in range(window):
    for dx in range(window):
      window_slice = jax.lax.slice(
          x, (0, dy, dx, 0),
          (n, dy + (out_h - 1) * stride + 1, dx + (out_w - 1) * stride + 1, channels),
          (1, stride, stride, 1))
      result = window_slice if result is None else jnp.maximum(result, window_slice)
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
    make: make(dtype=..., name=...) -> NormFn; call inside a compact method.
  """
  has_shift: bool
  make: Callable[..., NormFn]


def _batch_norm(*, dtype: str, name: str) -> NormFn:
  """BatchNorm over N, H, W; running statistics live in the 'batch_stats' collection."""

  def apply(x: jnp.ndarray, train: bool) -> jnp.ndarray:
    return nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM,
                        epsilon=BATCH_NORM_EPSILON, dtype=DTYPES.get(dtype),
                        param_dtype=jnp.float32, name=name)(x)

  return apply


def _no_norm(*, dtype: str, name: str) -> NormFn:
  """Identity: no normalisation layer."""
  del dtype, name
  return lambda x, train: x


NORMS: Registry[Norm] = Registry("norm")
NORMS.register("batch")(Norm(has_shift=True, make=_batch_norm))
NORMS.register("none")(Norm(has_shift=False, make=_no_norm))


def dense(x: jnp.ndarray, features: int, *, dtype: str, name: str) -> jnp.ndarray:
  """Fully connected layer with bias: (N, D_in) -> (N, features)."""
  return nn.Dense(features, dtype=DTYPES.get(dtype), param_dtype=jnp.float32, name=name)(x)


def logits_layer(x: jnp.ndarray, num_classes: int, *, dtype: str,
                 name: str = "classifier") -> jnp.ndarray:
  """Final dense layer; returns float32 logits (N, num_classes) whatever the compute dtype."""
  return dense(x, num_classes, dtype=dtype, name=name).astype(jnp.float32)
