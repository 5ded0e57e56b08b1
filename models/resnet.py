"""CIFAR-form ResNets (He et al. 2016): 3x3 stem conv at stride 1, no stem max-pool.

  resnet20: basic blocks [3, 3, 3],     channels width * (1, 2, 4),    width 16 (~0.27M params)
  resnet18: basic blocks [2, 2, 2, 2],  channels width * (1, 2, 4, 8), width 64 (~11.2M params)
  resnet50: bottlenecks  [3, 4, 6, 3],  channels width * (1, 2, 4, 8) (x4 out), width 64 (~23.5M)

The first block of every stage after the first subsamples by 2 (through the downsampling
strategy: its strided conv unit and its projection shortcut). Shortcuts are identity, or a
1x1 conv + norm projection where the shape changes (option B of He et al.). All models end
in global average pooling and a dense classifier. x: (N, 32, 32, 3) -> logits (N, num_classes).

Two options change the residual blocks (both off by default, which is He et al.'s block):
  activation_after_sum=False  a block returns shortcut + nonlinearity(branch) instead of
      nonlinearity(branch + shortcut) (He et al. 2016b, fig. 4c, "ReLU before addition"), so
      the identity path from the stem to the pooling carries no nonlinearity.
  zero_init_residual=True     the scale of each branch's last norm starts at 0 (Goyal et al.
      2017; torchvision's option of the same name): every block starts as its shortcut.
Together they are what makes a polynomial network (nonlinearity='afc_poly') trainable: with
the nonlinearity on the sum, the identity path composes one polynomial per block and its
activations overflow within a few blocks even at initialisation; with the branches at full
scale from the start, rare large values are squared block after block and training stalls at
chance (models/afc.py; experiments/afc_stability.py, numbers in docs/models.md).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect

import flax.linen as nn
import jax.numpy as jnp

from common.errors import ConfigError
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
  activation_after_sum: bool = True
  zero_init_residual: bool = False
  expansion = 1

  def activate(self, x, name):
    """The model's feature-map nonlinearity (models/nonlinearity.py); `name` names its
    parameters, if it has any."""
    return NONLINEARITIES.get(self.nonlinearity)(x, name=name)

  def conv_norm(self, x, features, kernel_size, stride, train, index, last=False):
    """conv{index} -> norm{index}; (N, H, W, C) -> (N, ceil(H/stride), ceil(W/stride), features).
    last: the branch's last norm, whose scale starts at 0 when zero_init_residual is set."""
    norm = layers.NORMS.get(self.norm)
    x = layers.conv(x, features, kernel_size, stride=stride, padding=self.padding,
                    dtype=self.dtype, use_bias=not norm.has_shift, name=f"conv{index}")
    zero_scale = last and self.zero_init_residual
    return norm.make(dtype=self.dtype, name=f"norm{index}", zero_scale=zero_scale)(x, train)

  def residual_sum(self, y, shortcut, name):
    """The block's output from its branch y (after the last norm) and its shortcut:
    nonlinearity(y + shortcut) (He et al.), or shortcut + nonlinearity(y) when
    activation_after_sum is False (the identity path then has no nonlinearity on it)."""
    if self.activation_after_sum:
      return self.activate(y + shortcut, name)
    return shortcut + self.activate(y, name)

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
        self.conv_norm(y, self.features, 3, stride, train, 1), "act1")
    y, shortcut = self.strided_unit_and_shortcut(x, unit1, x, train, temperature, "conv1")
    y = self.conv_norm(y, self.features, 3, 1, train, 2, last=True)
    return self.residual_sum(y, shortcut, "act2")


class Bottleneck(_Block):
  """1x1 conv unit -> 3x3 conv unit (strided) -> 1x1 conv (x4 channels) -> norm, + shortcut."""
  expansion = 4

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool, temperature=1.0) -> jnp.ndarray:
    y = self.activate(self.conv_norm(x, self.features, 1, 1, train, 1), "act1")
    unit2 = lambda z, stride: self.activate(
        self.conv_norm(z, self.features, 3, stride, train, 2), "act2")
    y, shortcut = self.strided_unit_and_shortcut(y, unit2, x, train, temperature, "conv2")
    y = self.conv_norm(y, self.features * self.expansion, 1, 1, train, 3, last=True)
    return self.residual_sum(y, shortcut, "act3")


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
  activation_after_sum: bool = True
  zero_init_residual: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False, temperature=1.0) -> jnp.ndarray:
    """temperature: Gumbel-softmax temperature of stochastic downsampling ('lps') when
    train=True (float or traced scalar); unused otherwise."""
    norm = layers.NORMS.get(self.norm)
    x = x.astype(layers.DTYPES.get(self.dtype))
    x = layers.conv(x, self.width, 3, padding=self.padding, dtype=self.dtype,
                    use_bias=not norm.has_shift, name="stem_conv")
    x = self.activate(norm.make(dtype=self.dtype, name="stem_norm")(x, train), "stem_act")
    for stage, num_blocks in enumerate(self.stage_sizes):
      for index in range(num_blocks):
        stride = STAGE_STRIDE if stage > 0 and index == 0 else 1
        x = self.block(features=self.width * 2**stage, stride=stride,
                       downsampler=self.downsampler, padding=self.padding, dtype=self.dtype,
                       norm=self.norm, nonlinearity=self.nonlinearity,
                       activation_after_sum=self.activation_after_sum,
                       zero_init_residual=self.zero_init_residual,
                       name=f"stage{stage + 1}_block{index + 1}")(x, train, temperature)
    x = self.pool_features(x)
    return layers.logits_layer(x, self.num_classes, dtype=self.dtype)

  # Operations between modules are methods, so that Flax's method interception sees each as
  # one unit (evaluate/layers/lie_layerwise.py); the same as calling the functions they wrap.
  def activate(self, x: jnp.ndarray, name: str) -> jnp.ndarray:
    """The stem's nonlinearity; `name` names its parameters, if it has any."""
    return NONLINEARITIES.get(self.nonlinearity)(x, name=name)

  def pool_features(self, x: jnp.ndarray) -> jnp.ndarray:
    """Global average pooling: (N, H, W, C) -> (N, C)."""
    return layers.global_average_pool(x)


@dataclasses.dataclass(frozen=True)
class ResNetFamily:
  """What sets one registered ResNet apart from the others.

  Attributes:
    block: BasicBlock or Bottleneck.
    stage_sizes: blocks per stage; channels are width * 2**stage (x4 out for Bottleneck).
    width: default first-stage channels.
    description: one line for the factory's docstring.
  """
  block: type[_Block]
  stage_sizes: tuple[int, ...]
  width: int
  description: str


# Registered name -> family; each is registered in MODELS by `_register` below.
RESNETS = {
    "resnet20": ResNetFamily(BasicBlock, (3, 3, 3), 16,
                             "He et al. CIFAR ResNet-20: basic blocks [3, 3, 3], "
                             "channels width * (1, 2, 4)."),
    "resnet18": ResNetFamily(BasicBlock, (2, 2, 2, 2), 64,
                             "CIFAR ResNet-18: basic blocks [2, 2, 2, 2], "
                             "channels width * (1, 2, 4, 8)."),
    "resnet50": ResNetFamily(Bottleneck, (3, 4, 6, 3), 64,
                             "CIFAR ResNet-50: bottleneck blocks [3, 4, 6, 3], "
                             "channels width * (1, 2, 4, 8) x 4."),
}


def resnet(family: ResNetFamily, *, num_classes: int = 10, downsample: str = "stride",
           blur_size: int = 3, padding: str = "zeros", dtype: str = "float32",
           width: int | None = None, norm: str = "batch", blur_padding: str = "auto",
           aps_norm: str = "l2", nonlinearity: str = "relu", lps_hidden_divisor: int = 4,
           activation_after_sum: bool = True, zero_init_residual: bool = False) -> ResNet:
  """The ResNet of `family` with these options (width None: the family's default); the
  options are every ResNet's, each registered factory's signature (`_register`)."""
  width = family.width if width is None else width
  downsampler = common_parts(downsample=downsample, blur_size=blur_size, padding=padding,
                             dtype=dtype, num_classes=num_classes, width=width,
                             blur_padding=blur_padding, aps_norm=aps_norm,
                             lps_hidden_divisor=lps_hidden_divisor,
                             nonlinearity=nonlinearity)
  downsampler.check_stride(STAGE_STRIDE)
  for option, value in (("activation_after_sum", activation_after_sum),
                        ("zero_init_residual", zero_init_residual)):
    if not isinstance(value, bool):
      raise ConfigError(f"{option} must be true or false, got {value!r}")
  if zero_init_residual and not layers.NORMS.get(norm).has_scale:
    raise ConfigError(f"zero_init_residual needs a norm with a learned scale, not norm={norm!r}")
  return ResNet(block=family.block, stage_sizes=family.stage_sizes, num_classes=num_classes,
                downsampler=downsampler, padding=padding, dtype=dtype, width=width, norm=norm,
                nonlinearity=nonlinearity, activation_after_sum=activation_after_sum,
                zero_init_residual=zero_init_residual)


def _register(name: str, family: ResNetFamily) -> None:
  """Registers `resnet` with `family` bound as MODELS[name]; its signature (the model's valid
  options and their defaults, models.model_options) shows the family's default width."""
  factory = functools.partial(resnet, family)
  signature = inspect.signature(factory)
  factory.__signature__ = signature.replace(parameters=[
      parameter.replace(default=family.width) if option == "width" else parameter
      for option, parameter in signature.parameters.items()])
  factory.__doc__ = family.description
  MODELS.register(name)(factory)


for _name, _family in RESNETS.items():
  _register(_name, _family)
