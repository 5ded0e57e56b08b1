"""CIFAR-form ResNets (He et al. 2016): 3x3 stem conv at stride 1, no stem max-pool.

  resnet20: basic blocks [3, 3, 3],     channels width * (1, 2, 4),    width 16 (~0.27M params)
  resnet18: basic blocks [2, 2, 2, 2],  channels width * (1, 2, 4, 8), width 64 (~11.2M params)
  resnet50: bottlenecks  [3, 4, 6, 3],  channels width * (1, 2, 4, 8) (x4 out), width 64 (~23.5M)

The first block of every stage after the first subsamples by 2 (through the downsampling
strategy: its strided conv unit and its projection shortcut). Shortcuts are identity, or a
1x1 conv + norm projection where the shape changes (option B of He et al.). All models end
in global average pooling and a dense classifier. x: (N, 32, 32, 3) -> logits (N, num_classes).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from models import layers
from models.builder import MODELS, common_parts
from models.downsample import Downsampler
from models.nonlinearity import NONLINEARITIES

STAGE_STRIDE = 2  # subsampling factor at the start of every stage but the first


class _Block(nn.Module):
  """Shared fields and helpers of residual blocks.

  Attributes:
    features: channels of the block's inner convs (output = features * expansion).
    stride: subsampling factor of the block (1 or STAGE_STRIDE).
  """
  features: int
  stride: int
  downsampler: Downsampler
  padding: str
  dtype: str
  norm: str
  nonlinearity: str = "relu"
  expansion = 1

  def activate(self, x):
    """The model's feature-map nonlinearity (models/nonlinearity.py)."""
    return NONLINEARITIES.get(self.nonlinearity)(x)

  def conv_norm(self, x, features, kernel_size, stride, train, index):
    """conv{index} -> norm{index}; (N, H, W, C) -> (N, ceil(H/stride), ceil(W/stride), features)."""
    norm = layers.NORMS.get(self.norm)
    x = layers.conv(x, features, kernel_size, stride=stride, padding=self.padding,
                    dtype=self.dtype, use_bias=not norm.has_shift, name=f"conv{index}")
    return norm.make(dtype=self.dtype, name=f"norm{index}")(x, train)

  def strided_unit_and_shortcut(self, main_x, unit, x, train, temperature, main_name):
    """(strided conv unit of main_x, shortcut of block input x), both through the strategy.

    x is projected (1x1 conv + norm) when its shape differs from the block output's; then
    the strategy handles both branches together (APS/LPS keep the same component in both).
    """
    out_features = self.features * self.expansion
    mode = dict(train=train, temperature=temperature)
    if self.stride != 1 or x.shape[-1] != out_features:
      project = lambda y, stride: self.conv_norm(y, out_features, 1, stride, train, "_shortcut")
      return self.downsampler.branches(main_x, unit, x, project, self.stride,
                                       main_name=main_name, shortcut_name="shortcut", **mode)
    return self.downsampler.strided_conv(main_x, unit, self.stride, name=main_name, **mode), x


class BasicBlock(_Block):
  """3x3 conv unit (strided) -> 3x3 conv -> norm, plus shortcut, then ReLU."""
  expansion = 1

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, temperature=1.0) -> jnp.ndarray:
    unit1 = lambda y, stride: self.activate(
        self.conv_norm(y, self.features, 3, stride, train, 1))
    y, shortcut = self.strided_unit_and_shortcut(x, unit1, x, train, temperature, "conv1")
    y = self.conv_norm(y, self.features, 3, 1, train, 2)
    return self.activate(y + shortcut)


class Bottleneck(_Block):
  """1x1 conv unit -> 3x3 conv unit (strided) -> 1x1 conv (x4 channels) -> norm, + shortcut."""
  expansion = 4

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, temperature=1.0) -> jnp.ndarray:
    y = self.activate(self.conv_norm(x, self.features, 1, 1, train, 1))
    unit2 = lambda z, stride: self.activate(
        self.conv_norm(z, self.features, 3, stride, train, 2))
    y, shortcut = self.strided_unit_and_shortcut(y, unit2, x, train, temperature, "conv2")
    y = self.conv_norm(y, self.features * self.expansion, 1, 1, train, 3)
    return self.activate(y + shortcut)


class ResNet(nn.Module):
  """CIFAR ResNet; see the module docstring. (N, 32, 32, 3) -> float32 logits (N, num_classes)."""
  block: type[_Block]
  stage_sizes: tuple[int, ...]
  num_classes: int
  downsampler: Downsampler
  padding: str
  dtype: str
  width: int
  norm: str
  nonlinearity: str = "relu"

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False, temperature=1.0) -> jnp.ndarray:
    """temperature: Gumbel-softmax temperature of stochastic downsampling ('lps') when
    train=True (float or traced scalar); unused otherwise."""
    norm = layers.NORMS.get(self.norm)
    x = x.astype(layers.DTYPES.get(self.dtype))
    x = layers.conv(x, self.width, 3, padding=self.padding, dtype=self.dtype,
                    use_bias=not norm.has_shift, name="stem_conv")
    x = NONLINEARITIES.get(self.nonlinearity)(norm.make(dtype=self.dtype, name="stem_norm")(
        x, train))
    for stage, num_blocks in enumerate(self.stage_sizes):
      for index in range(num_blocks):
        stride = STAGE_STRIDE if stage > 0 and index == 0 else 1
        x = self.block(features=self.width * 2**stage, stride=stride,
                       downsampler=self.downsampler, padding=self.padding, dtype=self.dtype,
                       norm=self.norm, nonlinearity=self.nonlinearity,
                       name=f"stage{stage + 1}_block{index + 1}")(x, train, temperature)
    x = layers.global_average_pool(x)
    return layers.logits_layer(x, self.num_classes, dtype=self.dtype)


def _resnet(block: type[_Block], stage_sizes: Sequence[int], *, num_classes: int,
            downsample: str, blur_size: int, padding: str, dtype: str, width: int,
            norm: str, blur_padding: str, aps_norm: str, nonlinearity: str,
            lps_hidden_divisor: int) -> ResNet:
  downsampler = common_parts(downsample=downsample, blur_size=blur_size, padding=padding,
                             dtype=dtype, num_classes=num_classes, width=width,
                             blur_padding=blur_padding, aps_norm=aps_norm,
                             lps_hidden_divisor=lps_hidden_divisor,
                             nonlinearity=nonlinearity)
  downsampler.check_stride(STAGE_STRIDE)
  layers.NORMS.get(norm)
  return ResNet(block=block, stage_sizes=tuple(stage_sizes), num_classes=num_classes,
                downsampler=downsampler, padding=padding, dtype=dtype, width=width, norm=norm,
                nonlinearity=nonlinearity)


@MODELS.register("resnet20")
def resnet20(*, num_classes: int = 10, downsample: str = "stride", blur_size: int = 3,
             padding: str = "zeros", dtype: str = "float32", width: int = 16,
             norm: str = "batch", blur_padding: str = "auto", aps_norm: str = "l2",
             nonlinearity: str = "relu", lps_hidden_divisor: int = 4) -> ResNet:
  """He et al. CIFAR ResNet-20: basic blocks [3, 3, 3], channels width * (1, 2, 4)."""
  return _resnet(BasicBlock, (3, 3, 3), num_classes=num_classes, downsample=downsample,
                 blur_size=blur_size, padding=padding, dtype=dtype, width=width, norm=norm,
                 blur_padding=blur_padding, aps_norm=aps_norm, nonlinearity=nonlinearity,
                 lps_hidden_divisor=lps_hidden_divisor)


@MODELS.register("resnet18")
def resnet18(*, num_classes: int = 10, downsample: str = "stride", blur_size: int = 3,
             padding: str = "zeros", dtype: str = "float32", width: int = 64,
             norm: str = "batch", blur_padding: str = "auto", aps_norm: str = "l2",
             nonlinearity: str = "relu", lps_hidden_divisor: int = 4) -> ResNet:
  """CIFAR ResNet-18: basic blocks [2, 2, 2, 2], channels width * (1, 2, 4, 8)."""
  return _resnet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes, downsample=downsample,
                 blur_size=blur_size, padding=padding, dtype=dtype, width=width, norm=norm,
                 blur_padding=blur_padding, aps_norm=aps_norm, nonlinearity=nonlinearity,
                 lps_hidden_divisor=lps_hidden_divisor)


@MODELS.register("resnet50")
def resnet50(*, num_classes: int = 10, downsample: str = "stride", blur_size: int = 3,
             padding: str = "zeros", dtype: str = "float32", width: int = 64,
             norm: str = "batch", blur_padding: str = "auto", aps_norm: str = "l2",
             nonlinearity: str = "relu", lps_hidden_divisor: int = 4) -> ResNet:
  """CIFAR ResNet-50: bottleneck blocks [3, 4, 6, 3], channels width * (1, 2, 4, 8) x 4."""
  return _resnet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, downsample=downsample,
                 blur_size=blur_size, padding=padding, dtype=dtype, width=width, norm=norm,
                 blur_padding=blur_padding, aps_norm=aps_norm, nonlinearity=nonlinearity,
                 lps_hidden_divisor=lps_hidden_divisor)
