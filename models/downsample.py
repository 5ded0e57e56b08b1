"""Downsampling strategies: how a model subsamples at each of its downsampling points.

Models never subsample directly and never look at strategy names. At every downsampling
point they hand the strategy the operation to perform as a function of stride, and the
strategy decides where (and whether) subsampling happens:

  strategy.pool(x, pool_op, stride, name=...)          a pooling layer (e.g. 3x3 max-pool)
  strategy.strided_conv(x, conv_op, stride, name=...)  a strided conv unit (conv + norm + ReLU)
  strategy.shortcut(x, project_op, stride, name=...)   a ResNet projection shortcut (1x1 conv + norm)
  strategy.branches(main_x, conv_op, shortcut_x, project_op, stride, main_name=...,
                    shortcut_name=...)                 both branches of a downsampling
                                                       residual block, so that a strategy
                                                       can subsample them alike (APS, LPS)

  strategy.patch_embed(x, embed_op, patch_size, name=...)
                                                       a transformer's patch embedding: the
                                                       patch convolution at stride patch_size
                                                       (models/vit.py)

pool, strided_conv, branches and patch_embed also take keyword `train` (bool) and `temperature` (float
scalar, the Gumbel-softmax temperature of stochastic strategies in training); strategies
that do not need them ignore them.

Each `*_op` is a function op(x, stride) -> y created by the model (it creates the model's
named conv/norm submodules itself). The methods are called inside the model's
`@nn.compact` method, so any submodule a strategy creates (a BlurPool, or the learned
selector of a future learnable polyphase sampler) belongs to the calling module; strategies
name such submodules f'{name}_<something>'.

Registered strategies (`DOWNSAMPLERS`, each built with keyword arguments blur_size, padding,
blur_padding):
  'stride'   plain subsampling: the op runs at its stride.
  'blurpool' Zhang (2019) antialiasing: pool/conv at stride 1, then BlurPool(stride) padded
             with `blur_padding`; the shortcut blurs-and-subsamples first and then runs its
             1x1 conv at stride 1. With blur_size 1 (no blur) it is exactly 'stride': every
             op runs at its stride, so BatchNorm statistics come from the subsampled map, as
             in the strided network (Zhang's filt_size=1 instead subsamples after a stride-1
             conv unit, whose BatchNorm sees the full-resolution map).
  'none'     no subsampling at all: every op runs at stride 1 (pooling windows are kept).

More strategies register themselves from their own modules (imported by models/__init__.py):
  'aps', 'lps' adaptive / learnable polyphase sampling, models/polyphase.py.
  'ideal'      FFT low-pass at the new Nyquist frequency, then subsampling, models/alias_free.py.
A new strategy is one more subclass of `Downsampler` registered in `DOWNSAMPLERS`; no model
changes.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar

import jax.numpy as jnp

from common.errors import ConfigError
from common.registry import Registry
from models.blurpool import BlurPool, binomial_filter
from models.padding import AUTO_BLUR_PADDING, PADDINGS, resolve_blur_padding

# op(x, stride) -> y: a pooling, conv-unit or projection operation run at the given stride.
StridedOp = Callable[[jnp.ndarray, int], jnp.ndarray]


@dataclasses.dataclass(frozen=True)
class Downsampler:
  """Base strategy. Subclasses override `subsample_after` and/or the three methods.

  Attributes:
    blur_size: binomial blur taps (used by antialiasing strategies only).
    padding: the model's padding mode name, for any spatial op the strategy adds.
    blur_padding: padding mode of blurs (a models.padding.BLUR_PADDINGS name, resolved:
      never 'auto').
  """
  blur_size: int = 3
  padding: str = "zeros"
  blur_padding: str = "reflect"
  # Whether training calls need `temperature` and an 'lps' PRNG stream (stochastic selection).
  uses_temperature: ClassVar[bool] = False

  def check_stride(self, stride: int) -> None:
    """Raises ValueError if this strategy cannot subsample by `stride` (models call it when
    they are built, with each stride they use)."""
    del stride

  def subsample_after(self, x: jnp.ndarray, op: StridedOp, stride: int, name: str) -> jnp.ndarray:
    """Default rule for pools and conv units: run the op at its stride."""
    del name
    return op(x, stride)

  def pool(self, x: jnp.ndarray, pool_op: StridedOp, stride: int, *, name: str,
           train: bool = False, temperature: Any = 1.0) -> jnp.ndarray:
    """A pooling layer with the given stride. x: (N, H, W, C)."""
    del train, temperature
    return self.subsample_after(x, pool_op, stride, name)

  def strided_conv(self, x: jnp.ndarray, conv_op: StridedOp, stride: int, *, name: str,
                   train: bool = False, temperature: Any = 1.0) -> jnp.ndarray:
    """A conv unit (conv + norm + activation) with the given stride. x: (N, H, W, C_in)."""
    del train, temperature
    return self.subsample_after(x, conv_op, stride, name)

  def branches(self, main_x: jnp.ndarray, conv_op: StridedOp, shortcut_x: jnp.ndarray,
               project_op: StridedOp, stride: int, *, main_name: str, shortcut_name: str,
               train: bool = False, temperature: Any = 1.0
               ) -> tuple[jnp.ndarray, jnp.ndarray]:
    """The strided conv unit of a residual block and its projection shortcut, together.

    main_x: (N, H, W, C) input of the strided conv unit; shortcut_x: (N, H, W, C') block
    input. Returns (strided_conv(main_x), shortcut(shortcut_x)), each
    (N, ceil(H / stride), ceil(W / stride), .). The default treats them independently.
    """
    main = self.strided_conv(main_x, conv_op, stride, name=main_name, train=train,
                             temperature=temperature)
    return main, self.shortcut(shortcut_x, project_op, stride, name=shortcut_name)

  def shortcut(self, x: jnp.ndarray, project_op: StridedOp, stride: int, *,
               name: str) -> jnp.ndarray:
    """A projection shortcut (1x1 conv + norm) with the given stride. x: (N, H, W, C_in)."""
    del name
    return project_op(x, stride)

  def check_patch_size(self, patch_size: int) -> None:
    """Raises ValueError if this strategy cannot be a patch embedding of `patch_size` (a
    transformer calls it when it is built). By default: whatever check_stride allows."""
    self.check_stride(patch_size)

  def patch_embed(self, x: jnp.ndarray, embed_op: StridedOp, patch_size: int, *, name: str,
                  train: bool = False, temperature: Any = 1.0) -> jnp.ndarray:
    """A patch embedding: embed_op(x, patch_size) is the p x p patch convolution at stride
    p, embed_op(x, 1) the same convolution at every pixel (patch (i, j) starts at pixel
    (i, j)), so that keeping every p-th output is the stride-p embedding.
    x: (N, H, W, C), H and W multiples of p -> tokens (N, H / p, W / p, D).
    By default the patch convolution is a strided conv unit of this strategy."""
    return self.strided_conv(x, embed_op, patch_size, name=name, train=train,
                             temperature=temperature)


DOWNSAMPLERS: Registry[type[Downsampler]] = Registry("downsample strategy")


@DOWNSAMPLERS.register("stride")
@dataclasses.dataclass(frozen=True)
class StrideDownsampler(Downsampler):
  """Plain subsampling (the standard CNN): every op runs at its own stride."""


@DOWNSAMPLERS.register("none")
@dataclasses.dataclass(frozen=True)
class NoDownsampler(Downsampler):
  """No subsampling anywhere: every op runs at stride 1, keeping its window/kernel."""

  def subsample_after(self, x, op, stride, name):
    del stride, name
    return op(x, 1)

  def shortcut(self, x, project_op, stride, *, name):
    del stride, name
    return project_op(x, 1)


@DOWNSAMPLERS.register("blurpool")
@dataclasses.dataclass(frozen=True)
class BlurPoolDownsampler(Downsampler):
  """Zhang (2019): op at stride 1, then BlurPool(blur_size, stride); shortcut blurs first.

  blur_size 1 is no blur: then every op runs at its own stride, exactly as in 'stride'.
  """

  def __post_init__(self):
    binomial_filter(self.blur_size)  # raises ValueError for an invalid blur_size

  def _blur(self, x: jnp.ndarray, stride: int, name: str) -> jnp.ndarray:
    return BlurPool(size=self.blur_size, stride=stride, padding=self.blur_padding,
                    name=f"{name}_blurpool")(x)

  def subsample_after(self, x, op, stride, name):
    if self.blur_size == 1:  # no blur: the strided op itself (same BatchNorm statistics)
      return op(x, stride)
    y = op(x, 1)
    return y if stride == 1 else self._blur(y, stride, name)

  def shortcut(self, x, project_op, stride, *, name):
    if self.blur_size == 1:
      return project_op(x, stride)
    if stride != 1:
      x = self._blur(x, stride, name)
    return project_op(x, 1)


# Options only some strategies have, with the validator run for every strategy (so a typo
# fails even where the option is unused): option name -> validator(value).
STRATEGY_OPTION_CHECKS: dict[str, Callable[[Any], Any]] = {}


def build_downsampler(name: str, *, blur_size: int = 3, padding: str = "zeros",
                      blur_padding: str = AUTO_BLUR_PADDING,
                      **strategy_options: Any) -> Downsampler:
  """Returns the strategy registered as `name`; fails early on unknown names or options.

  blur_padding: a models.padding.BLUR_PADDINGS name or 'auto' (circular when `padding` is
  circular, else reflect), resolved here; the strategy holds the resolved name.
  strategy_options: options in STRATEGY_OPTION_CHECKS (e.g. aps_norm); each is validated,
  then passed to the strategy only if it has a field of that name.
  """
  PADDINGS.get(padding)
  strategy = DOWNSAMPLERS.get(name)
  fields = {field.name for field in dataclasses.fields(strategy)}
  kept = {}
  for option, value in strategy_options.items():
    if option not in STRATEGY_OPTION_CHECKS:
      raise ConfigError(f"Unknown downsampling option {option!r}; valid: "
                        f"{', '.join(sorted(STRATEGY_OPTION_CHECKS))}")
    STRATEGY_OPTION_CHECKS[option](value)
    if option in fields:
      kept[option] = value
  return strategy(blur_size=blur_size, padding=padding,
                  blur_padding=resolve_blur_padding(blur_padding, padding), **kept)
