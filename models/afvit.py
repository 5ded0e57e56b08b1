"""`afvit`: the alias-free ViT of Michaeli & Soudry, "Alias-free ViT: fractional shift
invariance via linear attention" (NeurIPS 2025), in CIFAR form, built on XCiT (El-Nouby et
al. 2021) as theirs is. x: (N, H, W, 3) -> float32 logits (N, num_classes).

  stem      the input low-pass (models.alias_free.band_limit: the image without its Nyquist
            row and column, which have no sub-pixel shift; the stem's LayerNorm would
            otherwise see their energy change under half-pixel shifts), circular conv 3x3
            (3 -> width), all-token LayerNorm, activation (x2 grid), circular conv patch_size x
            patch_size (width -> width) at stride 1, then the ideal low-pass downsampling by
            patch_size (models.alias_free.ideal_downsample): a token grid of
            ceil(H / patch_size) x ceil(W / patch_size), width channels per token.
  depth x   an XCiT block, pre-norm, every branch scaled by a trainable per-channel
            LayerScale (LAYER_SCALE_INIT):
              x += XCA(LN(x))  cross-covariance attention (below)
              x += LPI(LN(x))  local patch interaction: circular depthwise 3x3 conv,
                               activation, circular depthwise 3x3 conv
              x += MLP(LN(x))  dense (width * mlp_ratio), activation, dense (width)
  head      LN, global average pooling over tokens, dense classifier.
No position embedding and no class token: nothing is tied to a position of the grid.

Why every part commutes with every Fourier shift (integer or fractional) of a token map
without Nyquist content, so that the logits are invariant up to float rounding to integer
and half-pixel circular shifts of raw images (models/alias_free.py for the resampling):
  - circular convolutions, per-token dense layers and per-channel affine maps are linear and
    spatially constant; the ideal downsampling turns an input shift by d pixels into a
    Fourier shift by d / patch_size token pixels, and keeps only |k| < n / 2 of the token
    grid (no Nyquist bin), as does every activation's low-pass back.
  - the activation (option `activation`, ACTIVATIONS): 'afc_poly' is the trainable per-channel
    degree-2 polynomial of the alias-free convnet (models/afc.py) on the x2 grid, exact (a
    square of |k| < n / 2 holds |k| < n, which the 2n grid represents); 'alias_free_gelu'
    evaluates GELU on the x2 grid instead, which only reduces aliasing (GELU's spectrum is
    unbounded): APPROXIMATE, measured in tests/test_afvit.py and docs/models.md.
  - AllTokenLayerNorm normalises each example by the mean and variance over all its tokens
    and channels: the mean is the DC coefficient and the variance the spectral energy
    (Parseval), neither moved by a Fourier shift. A per-token LayerNorm (ViT's) divides every
    token by its own statistics, a spatially varying nonlinear map that aliases.
  - cross-covariance attention (XCA): queries and keys are l2-normalised along the tokens,
    the attention is a (d x d) softmax over channel pairs of sum_t q_i(t) k_j(t), an inner
    product over tokens (invariant: Parseval), and every token's output is that matrix times
    its own values: a per-token linear map with a global matrix, linear in the number of
    tokens. Softmax attention over tokens is not shift-equivariant for fractional shifts.
  - the mean over tokens is the DC coefficient.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from common.errors import ConfigError
from common.registry import Registry
from models import layers
from models.afc import AFCPolyActivation
from models.alias_free import band_limit, ideal_downsample, on_doubled_grid
from models.builder import MODELS

# Initial value of every LayerScale (the per-channel factor on each residual branch, Touvron
# et al. 2021): CaiT's value for networks of depth <= 18. Small residual branches at the
# start keep the polynomial activations near the input scale they were fitted for.
LAYER_SCALE_INIT = 0.1
LAYER_NORM_EPSILON = 1e-6
L2_NORMALISE_EPSILON = 1e-6  # added to each token-axis norm of XCA's queries and keys


@dataclasses.dataclass(frozen=True)
class Activation:
  """An activation of the alias-free ViT.

  Attributes:
    apply: apply(x, *, name) -> y on a token map (N, H, W, C), same shape and dtype; may
      create parameters as the submodule `name` of the calling module.
    exact: whether it commutes exactly with Fourier shifts of maps without Nyquist content.
  """
  apply: Callable[..., jnp.ndarray]
  exact: bool


def _afc_poly(x: jnp.ndarray, *, name: str) -> jnp.ndarray:
  return AFCPolyActivation(name=name)(x)


def _alias_free_gelu(x: jnp.ndarray, *, name: str) -> jnp.ndarray:
  del name
  return on_doubled_grid(jax.nn.gelu, x, drop_nyquist=True)


ACTIVATIONS: Registry[Activation] = Registry("afvit activation")
ACTIVATIONS.register("afc_poly")(Activation(_afc_poly, exact=True))
ACTIVATIONS.register("alias_free_gelu")(Activation(_alias_free_gelu, exact=False))


class AllTokenLayerNorm(nn.Module):
  """LayerNorm with statistics over all tokens and channels of each example, then a
  per-channel scale and bias. (N, H, W, C) -> same, the input's dtype (computed in float32)."""

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    channels = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (channels,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (channels,), jnp.float32)
    values = x.astype(jnp.float32)
    mean = jnp.mean(values, axis=(1, 2, 3), keepdims=True)
    variance = jnp.mean(jnp.square(values - mean), axis=(1, 2, 3), keepdims=True)
    normalised = (values - mean) * jax.lax.rsqrt(variance + LAYER_NORM_EPSILON)
    return (normalised * scale + bias).astype(x.dtype)


class CrossCovarianceAttention(nn.Module):
  """XCiT's cross-covariance attention (module docstring). (N, H, W, C) -> same.

  Per head h (C / num_heads channels): Q, K, V (T tokens x d channels) from one dense layer;
  q, k l2-normalised along the tokens; A = softmax_j(temperature_h * q^T k) (d x d); each
  token's output is A times its value vector; then a dense projection.
  """
  num_heads: int
  dtype: str

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    batch, height, width, channels = x.shape
    head_channels = channels // self.num_heads
    qkv = layers.dense(x.reshape(batch, height * width, channels), 3 * channels,
                       dtype=self.dtype, name="qkv")
    # (N, T, 3, heads, d) -> three (N, heads, d, T)
    qkv = qkv.reshape(batch, height * width, 3, self.num_heads, head_channels)
    query, key, value = jnp.transpose(qkv, (2, 0, 3, 4, 1))
    query, key = (_l2_normalise_tokens(part) for part in (query, key))
    temperature = self.param("temperature", nn.initializers.ones, (self.num_heads, 1, 1),
                             jnp.float32)
    logits = jnp.einsum("nhit,nhjt->nhij", query, key) * temperature.astype(query.dtype)
    attention = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(value.dtype)
    out = jnp.einsum("nhij,nhjt->nthi", attention, value)  # (N, T, heads, d)
    out = layers.dense(out.reshape(batch, height * width, channels), channels,
                       dtype=self.dtype, name="proj")
    return out.reshape(batch, height, width, channels)


def _l2_normalise_tokens(x: jnp.ndarray) -> jnp.ndarray:
  """x (..., T) divided by its l2 norm along the last (token) axis (plus epsilon)."""
  norm = jnp.sqrt(jnp.sum(jnp.square(x.astype(jnp.float32)), axis=-1, keepdims=True))
  return (x / (norm + L2_NORMALISE_EPSILON)).astype(x.dtype)


class XCiTBlock(nn.Module):
  """One pre-norm block: XCA, LPI and MLP branches, each with its LayerScale (module
  docstring). (N, H, W, C) -> same."""
  num_heads: int
  mlp_ratio: float
  activation: str
  dtype: str

  def activate(self, x, name):
    return ACTIVATIONS.get(self.activation).apply(x, name=name)

  def layer_scale(self, y, name):
    gamma = self.param(name, nn.initializers.constant(LAYER_SCALE_INIT), (y.shape[-1],),
                       jnp.float32)
    return y * gamma.astype(y.dtype)

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    channels = x.shape[-1]
    y = CrossCovarianceAttention(self.num_heads, self.dtype, name="xca")(
        AllTokenLayerNorm(name="norm1")(x))
    x = x + self.layer_scale(y, "gamma1")
    y = AllTokenLayerNorm(name="norm2")(x)
    y = self.depthwise_conv(y, "lpi_conv1")
    y = self.depthwise_conv(self.activate(y, "lpi_act"), "lpi_conv2")
    x = x + self.layer_scale(y, "gamma2")
    y = AllTokenLayerNorm(name="norm3")(x)
    y = layers.dense(y, hidden_features(channels, self.mlp_ratio), dtype=self.dtype,
                     name="mlp_dense1")
    y = layers.dense(self.activate(y, "mlp_act"), channels, dtype=self.dtype,
                     name="mlp_dense2")
    return x + self.layer_scale(y, "gamma3")

  def depthwise_conv(self, x, name):
    """Circular depthwise 3x3 convolution with bias: (N, H, W, C) -> same."""
    x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")
    return nn.Conv(x.shape[-1], (3, 3), padding="VALID", feature_group_count=x.shape[-1],
                   dtype=layers.DTYPES.get(self.dtype), param_dtype=jnp.float32,
                   name=name)(x)


def hidden_features(width: int, mlp_ratio: float) -> int:
  """Hidden units of a block's MLP: round(width * mlp_ratio), at least 1."""
  return max(1, int(round(width * mlp_ratio)))


class AliasFreeViT(nn.Module):
  """The alias-free ViT; see the module docstring. (N, H, W, 3) -> float32 (N, num_classes)."""
  num_classes: int
  width: int
  patch_size: int
  depth: int
  num_heads: int
  mlp_ratio: float
  activation: str
  dtype: str

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    """train: unused (no BatchNorm, no dropout); accepted for the models' call convention."""
    del train
    # The input low-pass: only what a sub-pixel shift moves exactly (common.fourier).
    x = band_limit(x.astype(layers.DTYPES.get(self.dtype)))
    x = layers.conv(x, self.width, 3, padding="circular", dtype=self.dtype,
                    name="stem_conv1", use_bias=True)
    x = AllTokenLayerNorm(name="stem_norm")(x)
    x = ACTIVATIONS.get(self.activation).apply(x, name="stem_act")
    x = layers.conv(x, self.width, self.patch_size, padding="circular", dtype=self.dtype,
                    name="stem_conv2", use_bias=True)
    x = ideal_downsample(x, self.patch_size)  # the token grid
    for index in range(self.depth):
      x = XCiTBlock(num_heads=self.num_heads, mlp_ratio=self.mlp_ratio,
                    activation=self.activation, dtype=self.dtype,
                    name=f"block{index + 1}")(x)
    x = layers.global_average_pool(AllTokenLayerNorm(name="head_norm")(x))
    return layers.logits_layer(x, self.num_classes, dtype=self.dtype)


def _check_positive_integer(option: str, value) -> None:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ConfigError(f"afvit: {option} must be a positive integer, got {value!r}")


@MODELS.register("afvit")
def afvit(*, num_classes: int = 10, width: int = 192, patch_size: int = 4, depth: int = 12,
          num_heads: int = 4, mlp_ratio: float = 4.0, activation: str = "afc_poly",
          dtype: str = "float32") -> AliasFreeViT:
  """Michaeli & Soudry's alias-free ViT (XCiT-based), CIFAR form; see models/afvit.py.

  width: channels per token; patch_size: the ideal downsampling factor from the image to the
  token grid; depth: blocks; num_heads: XCA heads (must divide width); mlp_ratio: MLP hidden
  units per token channel (> 0); activation: ACTIVATIONS ('afc_poly' exact,
  'alias_free_gelu' approximate); dtype: compute dtype (models.layers.DTYPES).
  Raises ConfigError / UnknownNameError for invalid options.
  """
  for option, value in (("num_classes", num_classes), ("width", width),
                        ("patch_size", patch_size), ("depth", depth),
                        ("num_heads", num_heads)):
    _check_positive_integer(option, value)
  if width % num_heads:
    raise ConfigError(f"afvit: num_heads ({num_heads}) must divide width ({width})")
  if (isinstance(mlp_ratio, bool) or not isinstance(mlp_ratio, (int, float, np.number))
      or not np.isfinite(mlp_ratio) or mlp_ratio <= 0):
    raise ConfigError(f"afvit: mlp_ratio must be a finite number > 0, got {mlp_ratio!r}")
  ACTIVATIONS.get(activation)
  layers.DTYPES.get(dtype)
  return AliasFreeViT(num_classes=num_classes, width=width, patch_size=patch_size, depth=depth,
                      num_heads=num_heads, mlp_ratio=float(mlp_ratio), activation=activation,
                      dtype=dtype)
