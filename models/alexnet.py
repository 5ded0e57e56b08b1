"""AlexNet-style CIFAR-10 CNN (cuda-convnet / TensorFlow cifar10 tutorial model).

Used by Azulay & Weiss (2019, figure 11) to compare a CNN with subsampling ('alexnet')
against the same CNN without any subsampling ('alexnet_nostride').

Architecture, x: (N, 32, 32, 3):
  2 x [conv 5x5 (width channels) -> norm -> ReLU -> max-pool 3x3 stride 2]
  head: global average pooling ('gap', default) or flatten ('flatten')
  dense hidden_units[0] -> ReLU -> dense hidden_units[1] -> ReLU -> dense num_classes.
Subsampling happens only at the two max-pools, through the downsampling strategy.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

from common.errors import ConfigError
from common.registry import Registry
from models import layers
from models.builder import MODELS, common_parts
from models.downsample import Downsampler
from models.nonlinearity import NONLINEARITIES

HEADS: Registry[Callable[[jnp.ndarray], jnp.ndarray]] = Registry("alexnet head")
HEADS.register("gap")(layers.global_average_pool)
HEADS.register("flatten")(lambda x: x.reshape(x.shape[0], -1))

NUM_STAGES = 2
KERNEL_SIZE = 5
POOL_WINDOW = 3
POOL_STRIDE = 2


class AlexNet(nn.Module):
  """See the module docstring. Input (N, 32, 32, 3) -> float32 logits (N, num_classes)."""
  num_classes: int
  downsampler: Downsampler
  padding: str
  dtype: str
  width: int
  norm: str
  head: str
  hidden_units: tuple[int, ...]
  nonlinearity: str = "relu"

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False, temperature=1.0) -> jnp.ndarray:
    """temperature: Gumbel-softmax temperature of stochastic downsampling ('lps') when
    train=True (float or traced scalar); unused otherwise."""
    norm = layers.NORMS.get(self.norm)
    x = x.astype(layers.DTYPES.get(self.dtype))
    for stage in range(1, NUM_STAGES + 1):
      x = layers.conv(x, self.width, KERNEL_SIZE, padding=self.padding, dtype=self.dtype,
                      use_bias=not norm.has_shift, name=f"conv{stage}")
      x = norm.make(dtype=self.dtype, name=f"norm{stage}")(x, train)
      x = self.activate(x, name=f"act{stage}")
      x = self.downsampler.pool(x, self.max_pool, POOL_STRIDE, name=f"pool{stage}",
                                train=train, temperature=temperature)
    x = self.pool_features(x)
    for index, units in enumerate(self.hidden_units, start=1):  # dense head: plain ReLU
      x = nn.relu(layers.dense(x, units, dtype=self.dtype, name=f"fc{index}"))
    return layers.logits_layer(x, self.num_classes, dtype=self.dtype)

  # Each operation between modules is a method of the model, so that Flax's method
  # interception sees it as one unit (evaluate/layers/lie_layerwise.py); calling them is
  # the same as calling the functions they wrap.
  def activate(self, x: jnp.ndarray, name: str) -> jnp.ndarray:
    """The feature-map nonlinearity; `name` names its parameters, if it has any."""
    return NONLINEARITIES.get(self.nonlinearity)(x, name=name)

  def max_pool(self, x: jnp.ndarray, stride: int) -> jnp.ndarray:
    """The POOL_WINDOW x POOL_WINDOW max-pool at `stride`, padded as the model."""
    return layers.max_pool(x, POOL_WINDOW, stride, padding=self.padding)

  def pool_features(self, x: jnp.ndarray) -> jnp.ndarray:
    """The head: (N, H, W, C) -> (N, D)."""
    return HEADS.get(self.head)(x)


@MODELS.register("alexnet")
def alexnet(*, num_classes: int = 10, downsample: str = "stride", blur_size: int = 3,
            padding: str = "zeros", dtype: str = "float32", width: int = 64,
            norm: str = "batch", head: str = "gap",
            hidden_units: Sequence[int] = (384, 192), blur_padding: str = "auto",
            aps_norm: str = "l2", nonlinearity: str = "relu",
            lps_hidden_divisor: int = 4) -> AlexNet:
  """AlexNet-style CIFAR CNN; `width` = conv channels, `hidden_units` = dense layer sizes."""
  downsampler = common_parts(downsample=downsample, blur_size=blur_size, padding=padding,
                             dtype=dtype, num_classes=num_classes, width=width,
                             blur_padding=blur_padding, aps_norm=aps_norm,
                             lps_hidden_divisor=lps_hidden_divisor,
                             nonlinearity=nonlinearity)
  downsampler.check_stride(POOL_STRIDE)
  layers.NORMS.get(norm)
  HEADS.get(head)
  return AlexNet(num_classes=num_classes, downsampler=downsampler, padding=padding,
                 dtype=dtype, width=width, norm=norm, head=head,
                 hidden_units=tuple(int(units) for units in hidden_units),
                 nonlinearity=nonlinearity)


@MODELS.register("alexnet_nostride")
def alexnet_nostride(*, num_classes: int = 10, downsample: str = "none", blur_size: int = 3,
                     padding: str = "zeros", dtype: str = "float32", width: int = 64,
                     norm: str = "batch", head: str = "gap",
                     hidden_units: Sequence[int] = (384, 192),
                     blur_padding: str = "auto", aps_norm: str = "l2",
                     nonlinearity: str = "relu", lps_hidden_divisor: int = 4) -> AlexNet:
  """'alexnet' without any subsampling (stride 1 everywhere, pooling windows kept).

  Only downsample='none' and head='gap' are allowed (anything else is a ValueError), so
  subsampling is the only difference from 'alexnet' with the same options.
  """
  if downsample != "none":
    raise ConfigError(f"alexnet_nostride requires downsample='none', got {downsample!r}")
  if head != "gap":
    raise ConfigError(f"alexnet_nostride requires head='gap' (flatten is not shift "
                      f"invariant), got {head!r}")
  return alexnet(num_classes=num_classes, downsample=downsample, blur_size=blur_size,
                 padding=padding, dtype=dtype, width=width, norm=norm, head=head,
                 hidden_units=hidden_units, blur_padding=blur_padding, aps_norm=aps_norm,
                 nonlinearity=nonlinearity, lps_hidden_divisor=lps_hidden_divisor)
