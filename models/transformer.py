"""The transformer encoder shared by the vision transformers (models/vit.py, models/cct.py):
multi-head attention, pre-norm encoder blocks, position encodings (models/position.py) and
pooling of the tokens into one feature vector, by name.

TokenEncoder(grid) takes a token grid (N, h, w, D) and returns features (N, D):
  grid -> position encoding (at the input, or after block 1 for 'peg') -> flatten to
  (N, h * w, D) tokens [-> class token prepended, pool 'cls'] -> depth x EncoderBlock ->
  LayerNorm -> pooling.
EncoderBlock (big_vision's ViT): x + MHA(LN(x)), then x + MLP(LN(x)), MLP = Dense(mlp_dim)
-> GELU (tanh form) -> Dense(D). No dropout.

Poolings (`POOLINGS`, the model option `pool`):
  'gap'  mean over the tokens.
  'map'  big_vision's multihead attention pooling: a learned probe token attends to the
         tokens, then a residual MLP (MAPHead).
  'cls'  a learned class token prepended to the sequence; its output is the feature.
  'seq'  Hassani et al.'s sequence pooling (CCT): softmax over tokens of a learned linear
         score, the score-weighted mean of the tokens.
Every pooling is invariant to permutations of the patch tokens, and so is every block: with
no absolute position encoding (posemb 'none', or 'peg' with circular padding) the features
are invariant to every circular shift of the token grid by whole tokens, up to float
rounding (the sums run in another order).
"""
from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from common.errors import ConfigError
from common.registry import Registry
from models.layers import DTYPES
from models.position import POSITION_ENCODINGS

# big_vision's ViT initialisers: Xavier-uniform dense kernels, small normal MLP biases.
dense_init = nn.initializers.xavier_uniform()
MLP_BIAS_STDDEV = 1e-6


def _dense(features: int, dtype: str, name: str, **kwargs) -> nn.Dense:
  return nn.Dense(features, dtype=DTYPES.get(dtype), param_dtype=jnp.float32,
                  kernel_init=dense_init, name=name, **kwargs)


class MultiHeadAttention(nn.Module):
  """Scaled dot-product attention with `num_heads` heads.

  queries: (N, Tq, D), inputs: (N, Tk, D) -> (N, Tq, D). D must be a multiple of num_heads.
  The softmax runs in float32 whatever the compute dtype.
  """
  num_heads: int
  dtype: str = "float32"

  @nn.compact
  def __call__(self, queries: jnp.ndarray, inputs: jnp.ndarray) -> jnp.ndarray:
    width = queries.shape[-1]
    head_dim = width // self.num_heads
    split = lambda x: x.reshape(*x.shape[:-1], self.num_heads, head_dim)
    # The 1/sqrt(head_dim) scale is applied to the queries (N, Tq, D), not to the logits
    # (N, heads, Tq, Tk): the same products up to float rounding, and with many tokens and
    # narrow heads far fewer multiplications (benchmarks/pytorch_peer.py, docs/performance.md).
    q = split(_dense(width, self.dtype, "query")(queries) / jnp.asarray(math.sqrt(head_dim),
                                                                          queries.dtype))
    k = split(_dense(width, self.dtype, "key")(inputs))
    v = split(_dense(width, self.dtype, "value")(inputs))
    logits = jnp.einsum("nqhd,nkhd->nhqk", q, k).astype(jnp.float32)
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    out = jnp.einsum("nhqk,nkhd->nqhd", weights, v).reshape(*queries.shape[:-1], width)
    return _dense(width, self.dtype, "out")(out)


class MlpBlock(nn.Module):
  """Dense(mlp_dim) -> GELU -> Dense(D): (..., D) -> (..., D)."""
  mlp_dim: int
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    bias_init = nn.initializers.normal(stddev=MLP_BIAS_STDDEV)
    y = nn.gelu(_dense(self.mlp_dim, self.dtype, "dense1", bias_init=bias_init)(x))
    return _dense(x.shape[-1], self.dtype, "dense2", bias_init=bias_init)(y)


def layer_norm(dtype: str, name: str) -> nn.LayerNorm:
  return nn.LayerNorm(dtype=DTYPES.get(dtype), param_dtype=jnp.float32, name=name)


class EncoderBlock(nn.Module):
  """Pre-norm block: x + MHA(LN(x)), then x + MLP(LN(x)). (N, T, D) -> (N, T, D)."""
  num_heads: int
  mlp_dim: int
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    y = layer_norm(self.dtype, "norm1")(x)
    x = x + MultiHeadAttention(self.num_heads, self.dtype, name="attention")(y, y)
    y = layer_norm(self.dtype, "norm2")(x)
    return x + MlpBlock(self.mlp_dim, self.dtype, name="mlp")(y)


class _Pooling(nn.Module):
  """Base of the poolings: tokens (N, T, D) -> features (N, D). `prefix_tokens` learned
  tokens are prepended to the sequence by the encoder for this pooling (the class token)."""
  num_heads: int
  mlp_dim: int
  dtype: str = "float32"
  prefix_tokens: ClassVar[int] = 0


POOLINGS: Registry[type[_Pooling]] = Registry("pooling (pool)")


@POOLINGS.register("gap")
class GlobalAveragePooling(_Pooling):
  """Mean over the tokens."""

  def __call__(self, tokens: jnp.ndarray) -> jnp.ndarray:
    return jnp.mean(tokens, axis=1)


@POOLINGS.register("map")
class MultiheadAttentionPooling(_Pooling):
  """big_vision's MAPHead: a learned probe attends to the tokens; + LN -> MLP residual."""

  @nn.compact
  def __call__(self, tokens: jnp.ndarray) -> jnp.ndarray:
    probe = self.param("probe", dense_init, (1, 1, tokens.shape[-1]), jnp.float32)
    probe = jnp.broadcast_to(probe.astype(tokens.dtype), (tokens.shape[0], 1, tokens.shape[-1]))
    x = MultiHeadAttention(self.num_heads, self.dtype, name="attention")(probe, tokens)
    y = layer_norm(self.dtype, "norm")(x)
    return (x + MlpBlock(self.mlp_dim, self.dtype, name="mlp")(y))[:, 0]


@POOLINGS.register("cls")
class ClassTokenPooling(_Pooling):
  """The output of the class token (prepended by the encoder)."""
  prefix_tokens = 1

  def __call__(self, tokens: jnp.ndarray) -> jnp.ndarray:
    return tokens[:, 0]


@POOLINGS.register("seq")
class SequencePooling(_Pooling):
  """Hassani et al.'s sequence pooling: sum_t softmax_t(score(x_t)) x_t, score = Dense(1)."""

  @nn.compact
  def __call__(self, tokens: jnp.ndarray) -> jnp.ndarray:
    scores = _dense(1, self.dtype, "score")(tokens).astype(jnp.float32)
    weights = jax.nn.softmax(scores, axis=1).astype(tokens.dtype)
    return jnp.sum(weights * tokens, axis=1)


def check_encoder_options(*, width: int, depth: int, num_heads: int, mlp_ratio: float,
                          posemb: str, pool: str) -> int:
  """Validates the encoder's options; returns the MLP width round(mlp_ratio * width).

  Raises ConfigError (or UnknownNameError for posemb/pool, listing valid names)."""
  for option, value in (("depth", depth), ("num_heads", num_heads)):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ConfigError(f"{option} must be a positive integer, got {value!r}")
  if width % num_heads:
    raise ConfigError(f"width ({width}) must be a multiple of num_heads ({num_heads})")
  if isinstance(mlp_ratio, bool) or not isinstance(mlp_ratio, (int, float)) or mlp_ratio <= 0:
    raise ConfigError(f"mlp_ratio must be a positive number, got {mlp_ratio!r}")
  POSITION_ENCODINGS.get(posemb).check(width)
  POOLINGS.get(pool)
  return max(int(round(mlp_ratio * width)), 1)


class TokenEncoder(nn.Module):
  """Token grid (N, h, w, D) -> features (N, D); see the module docstring."""
  depth: int
  num_heads: int
  mlp_dim: int
  posemb: str
  pool: str
  padding: str
  dtype: str = "float32"

  @nn.compact
  def __call__(self, grid: jnp.ndarray) -> jnp.ndarray:
    n, height, width, features = grid.shape
    encoding = POSITION_ENCODINGS.get(self.posemb)
    encode = encoding.make(padding=self.padding, dtype=self.dtype, name="posemb")
    if not encoding.after_first_block:
      grid = encode(grid)
    tokens = grid.reshape(n, height * width, features)
    pooling = POOLINGS.get(self.pool)(self.num_heads, self.mlp_dim, self.dtype, name="pool")
    prefix = pooling.prefix_tokens
    if prefix:
      learned = self.param("cls", nn.initializers.zeros, (1, prefix, features), jnp.float32)
      tokens = jnp.concatenate(
          [jnp.broadcast_to(learned.astype(tokens.dtype), (n, prefix, features)), tokens], 1)
    for index in range(self.depth):
      tokens = EncoderBlock(self.num_heads, self.mlp_dim, self.dtype,
                            name=f"block{index + 1}")(tokens)
      if index == 0 and encoding.after_first_block:
        patches = encode(tokens[:, prefix:].reshape(n, height, width, features))
        tokens = jnp.concatenate([tokens[:, :prefix], patches.reshape(tokens[:, prefix:].shape)],
                                 axis=1)
    return pooling(layer_norm(self.dtype, "encoder_norm")(tokens))
