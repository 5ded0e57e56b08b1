"""Plain Flax linen versions of the zoo's models: the speed reference for the project's layers.

These are the networks as a Flax user would write them from the papers, with nothing of the
project's machinery: `nn.Conv(padding='SAME')`, `nn.max_pool`, `nn.BatchNorm`, `nn.relu`.
The transformers are written the same way: `nn.Conv` patchify or tokenizer, a learned
position embedding, `nn.MultiHeadDotProductAttention`, `nn.LayerNorm`, `nn.Dense`.
They have the same layer shapes and parameter counts as the zoo's models with their default
options (zero padding, `downsample='stride'`, or 'none' for alexnet_nostride), so the ratio
of the two train steps measured in one run (`benchmarks/pytorch_peer.py`) is the cost of the
project's layers (padding modes, downsampling strategies, normalisation registry).

Only the timing benchmark uses them; they are not registered as models.
Input (N, 32, 32, 3) float; output float32 logits (N, num_classes).
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax.numpy as jnp

_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def _batch_norm(train: bool, dtype) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=_BN_MOMENTUM,
                      epsilon=_BN_EPSILON, dtype=dtype)


def flax_max_pool(x: jnp.ndarray, window: int, stride: int) -> jnp.ndarray:
  """`nn.max_pool` with 'SAME' padding: (N, H, W, C) -> (N, ceil(H / s), ceil(W / s), C)."""
  return nn.max_pool(x, (window, window), strides=(stride, stride), padding="SAME")


class PlainAlexNet(nn.Module):
  """2 x [conv 5x5, BN, ReLU, max-pool 3x3 (stride `pool_stride`)], GAP, 384-192-classes.

  max_pool: (x, window, stride) -> pooled x; `nn.max_pool` unless a benchmark compares
  other forms (benchmarks/max_pool_forms.py).
  """
  width: int = 64
  pool_stride: int = 2
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32
  max_pool: Callable[[jnp.ndarray, int, int], jnp.ndarray] = flax_max_pool

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for _ in range(2):
      x = nn.Conv(self.width, (5, 5), padding="SAME", use_bias=False, dtype=self.dtype)(x)
      x = nn.relu(_batch_norm(train, self.dtype)(x))
      x = self.max_pool(x, 3, self.pool_stride)
    x = jnp.mean(x, axis=(1, 2))
    for units in (384, 192):
      x = nn.relu(nn.Dense(units, dtype=self.dtype)(x))
    return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)


class PlainBasicBlock(nn.Module):
  """3x3 conv-BN-ReLU (strided), 3x3 conv-BN, + shortcut (1x1 conv-BN where shapes differ)."""
  features: int
  stride: int
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x, train: bool):
    conv = lambda features, kernel, stride: nn.Conv(
        features, (kernel, kernel), strides=(stride, stride), padding="SAME", use_bias=False,
        dtype=self.dtype)
    y = nn.relu(_batch_norm(train, self.dtype)(conv(self.features, 3, self.stride)(x)))
    y = _batch_norm(train, self.dtype)(conv(self.features, 3, 1)(y))
    if self.stride != 1 or x.shape[-1] != self.features:
      x = _batch_norm(train, self.dtype)(conv(self.features, 1, self.stride)(x))
    return nn.relu(y + x)


class PlainResNet(nn.Module):
  """CIFAR ResNet: 3x3 stem, basic-block stages (first block of later stages strided), GAP."""
  stage_sizes: tuple[int, ...]
  width: int
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    x = nn.Conv(self.width, (3, 3), padding="SAME", use_bias=False, dtype=self.dtype)(x)
    x = nn.relu(_batch_norm(train, self.dtype)(x))
    for stage, blocks in enumerate(self.stage_sizes):
      for index in range(blocks):
        stride = 2 if stage > 0 and index == 0 else 1
        x = PlainBasicBlock(self.width * 2**stage, stride, self.dtype)(x, train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)


class PlainEncoderBlock(nn.Module):
  """Pre-norm block: x + MHA(LN(x)), then x + MLP(LN(x)) (GELU). (N, T, D) -> (N, T, D)."""
  num_heads: int
  mlp_dim: int
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x):
    y = nn.LayerNorm(dtype=self.dtype)(x)
    x = x + nn.MultiHeadDotProductAttention(num_heads=self.num_heads, dtype=self.dtype)(y, y)
    y = nn.LayerNorm(dtype=self.dtype)(x)
    y = nn.gelu(nn.Dense(self.mlp_dim, dtype=self.dtype)(y))
    return x + nn.Dense(x.shape[-1], dtype=self.dtype)(y)


class PlainTransformer(nn.Module):
  """Tokens (N, h, w, D) + learned position embedding -> depth blocks -> LayerNorm -> pooling
  ('gap': mean over tokens; 'seq': Hassani et al.'s softmax-weighted mean) -> (N, D)."""
  depth: int
  num_heads: int
  mlp_dim: int
  pool: str
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, grid):
    n, h, w, d = grid.shape
    x = grid.reshape(n, h * w, d)
    x = x + self.param("pos_embedding", nn.initializers.normal(stddev=d**-0.5), (h * w, d))
    for _ in range(self.depth):
      x = PlainEncoderBlock(self.num_heads, self.mlp_dim, self.dtype)(x)
    x = nn.LayerNorm(dtype=self.dtype)(x)
    if self.pool == "gap":
      return jnp.mean(x, axis=1)
    weights = nn.softmax(nn.Dense(1, dtype=self.dtype)(x), axis=1)
    return jnp.sum(weights * x, axis=1)


class PlainViT(nn.Module):
  """Patchify (p x p conv at stride p), learned position embedding, encoder, mean pooling,
  dense classifier: the zoo's 'vit' with posemb 'learn', pool 'gap', downsample 'stride'."""
  width: int = 192
  patch_size: int = 4
  depth: int = 6
  num_heads: int = 3
  mlp_ratio: float = 4.0
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    p = self.patch_size
    x = nn.Conv(self.width, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype)(
        x.astype(self.dtype))
    x = PlainTransformer(self.depth, self.num_heads, round(self.mlp_ratio * self.width), "gap",
                         self.dtype)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)


class PlainCCT(nn.Module):
  """Conv 3x3 (no bias) -> ReLU -> max-pool 3x3 stride 2, learned position embedding,
  encoder, sequence pooling, dense classifier: the zoo's 'cct' with its defaults (CCT-7/3x1)."""
  width: int = 256
  depth: int = 7
  num_heads: int = 4
  mlp_ratio: float = 2.0
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    x = nn.Conv(self.width, (3, 3), padding="SAME", use_bias=False, dtype=self.dtype)(
        x.astype(self.dtype))
    x = flax_max_pool(nn.relu(x), 3, 2)
    x = PlainTransformer(self.depth, self.num_heads, round(self.mlp_ratio * self.width), "seq",
                         self.dtype)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)


# name -> (width, dtype) -> plain module. The zoo's default width is used when width is None.
PLAIN_MODELS: dict[str, Callable[..., nn.Module]] = {
    "alexnet": lambda width, dtype: PlainAlexNet(width=width or 64, pool_stride=2, dtype=dtype),
    "alexnet_nostride": lambda width, dtype: PlainAlexNet(width=width or 64, pool_stride=1,
                                                          dtype=dtype),
    "resnet20": lambda width, dtype: PlainResNet((3, 3, 3), width or 16, dtype=dtype),
    "resnet18": lambda width, dtype: PlainResNet((2, 2, 2, 2), width or 64, dtype=dtype),
    "vit": lambda width, dtype: PlainViT(width=width or 192, dtype=dtype),
    "cct": lambda width, dtype: PlainCCT(width=width or 256, dtype=dtype),
}
