"""'cct': the compact convolutional transformer (Hassani et al. 2021), CIFAR form.

Architecture, x: (N, 32, 32, 3):
  convolutional tokenizer: conv_layers x [conv kernel_size x kernel_size (no bias; 64
    channels, width for the last) -> ReLU -> max-pool 3x3 stride 2], the pools through the
    downsampling strategy as in the CNNs -> token grid (N, 32 / 2**conv_layers, ..., width)
  encoder (models/transformer.py): position encoding `posemb`, depth pre-norm blocks,
    final LayerNorm, pooling `pool` (default 'seq', their sequence pooling)
  dense classifier -> float32 logits (N, num_classes).
Defaults are CCT-7/3x1 (width 256, 7 blocks, 4 heads, MLP ratio 2, one 3x3 conv layer: 256
tokens; 3,765,515 parameters), for which Hassani et al. report about 95% on CIFAR-10 with
their long, heavily augmented recipe (not reproduced here; this version has no dropout or
stochastic depth).

The tokenizer is a CNN, so every downsampling strategy applies to its pools: with
downsample='aps', padding='circular', posemb 'none' or 'peg' and any pooling, the logits are
invariant to every integer circular shift (each APS pool keeps the shifted component).
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from common.errors import ConfigError
from models import layers
from models.builder import MODELS, common_parts
from models.downsample import Downsampler
from models.transformer import TokenEncoder, check_encoder_options

TOKENIZER_CHANNELS = 64  # channels of every tokenizer conv but the last (which has width)
POOL_WINDOW = 3
POOL_STRIDE = 2


class CompactConvolutionalTransformer(nn.Module):
  """See the module docstring. (N, H, W, 3) -> float32 logits (N, num_classes)."""
  num_classes: int
  downsampler: Downsampler
  padding: str
  dtype: str
  width: int
  conv_layers: int
  kernel_size: int
  depth: int
  num_heads: int
  mlp_dim: int
  posemb: str
  pool: str

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False, temperature=1.0) -> jnp.ndarray:
    """temperature: Gumbel-softmax temperature of downsample='lps' when train=True."""
    x = x.astype(layers.DTYPES.get(self.dtype))
    for index in range(1, self.conv_layers + 1):
      channels = self.width if index == self.conv_layers else TOKENIZER_CHANNELS
      x = nn.relu(layers.conv(x, channels, self.kernel_size, padding=self.padding,
                              dtype=self.dtype, name=f"tokenizer_conv{index}"))
      pool_op = lambda y, stride: layers.max_pool(y, POOL_WINDOW, stride, padding=self.padding)
      x = self.downsampler.pool(x, pool_op, POOL_STRIDE, name=f"tokenizer_pool{index}",
                                train=train, temperature=temperature)
    features = TokenEncoder(depth=self.depth, num_heads=self.num_heads, mlp_dim=self.mlp_dim,
                            posemb=self.posemb, pool=self.pool, padding=self.padding,
                            dtype=self.dtype, name="encoder")(x)
    return layers.logits_layer(features, self.num_classes, dtype=self.dtype, name="head")


@MODELS.register("cct")
def cct(*, num_classes: int = 10, downsample: str = "stride", blur_size: int = 3,
        padding: str = "zeros", dtype: str = "float32", width: int = 256,
        conv_layers: int = 1, kernel_size: int = 3, depth: int = 7, num_heads: int = 4,
        mlp_ratio: float = 2.0, posemb: str = "learn", pool: str = "seq",
        blur_padding: str = "auto", aps_norm: str = "l2",
        lps_hidden_divisor: int = 4) -> CompactConvolutionalTransformer:
  """Compact convolutional transformer (defaults: CCT-7/3x1).

  width: token dimension D; conv_layers, kernel_size: the tokenizer's; the encoder options
  as 'vit' (models/vit.py); downsample etc.: the tokenizer's pools, as in the CNNs.
  """
  downsampler = common_parts(downsample=downsample, blur_size=blur_size, padding=padding,
                             dtype=dtype, num_classes=num_classes, width=width,
                             blur_padding=blur_padding, aps_norm=aps_norm,
                             lps_hidden_divisor=lps_hidden_divisor)
  downsampler.check_stride(POOL_STRIDE)
  for option, value in (("conv_layers", conv_layers), ("kernel_size", kernel_size)):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ConfigError(f"{option} must be a positive integer, got {value!r}")
  mlp_dim = check_encoder_options(width=width, depth=depth, num_heads=num_heads,
                                  mlp_ratio=mlp_ratio, posemb=posemb, pool=pool)
  return CompactConvolutionalTransformer(
      num_classes=num_classes, downsampler=downsampler, padding=padding, dtype=dtype,
      width=width, conv_layers=conv_layers, kernel_size=kernel_size, depth=depth,
      num_heads=num_heads, mlp_dim=mlp_dim, posemb=posemb, pool=pool)
