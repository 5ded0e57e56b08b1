"""Plain Flax linen versions of the zoo's models: the speed reference for the project's layers.

These are the networks as a Flax user would write them from the papers, with nothing of the
project's machinery: `nn.Conv(padding='SAME')`, `nn.max_pool`, `nn.BatchNorm`, `nn.relu`.
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


# name -> (width, dtype) -> plain module. The zoo's default width is used when width is None.
PLAIN_MODELS: dict[str, Callable[..., nn.Module]] = {
    "alexnet": lambda width, dtype: PlainAlexNet(width=width or 64, pool_stride=2, dtype=dtype),
    "alexnet_nostride": lambda width, dtype: PlainAlexNet(width=width or 64, pool_stride=1,
                                                          dtype=dtype),
    "resnet20": lambda width, dtype: PlainResNet((3, 3, 3), width or 16, dtype=dtype),
    "resnet18": lambda width, dtype: PlainResNet((2, 2, 2, 2), width or 64, dtype=dtype),
}
