"""'vit': a small CIFAR vision transformer in the style of big_vision's ViT.

Architecture, x: (N, 32, 32, 3):
  patch embedding: a patch_size x patch_size convolution (width channels, bias) at stride
    patch_size, through the downsampling strategy (Downsampler.patch_embed) -> token grid
    (N, 32 / p, 32 / p, width)
  encoder (models/transformer.py): position encoding `posemb`, depth pre-norm blocks of
    num_heads heads and an MLP of round(mlp_ratio * width), final LayerNorm, pooling `pool`
  dense classifier -> float32 logits (N, num_classes).

The model option `downsample` is how the patch embedding subsamples:
  'stride'    the plain ViT patchify (the convolution at stride p, no padding).
  'aps'       Ding et al.'s (2023) polyphase anchoring: the p x p phase of the image with the
              largest `aps_norm` is rolled to the origin, then the stride-p convolution
              (models.polyphase.anchor_phase; no blur).
  'blurpool', 'ideal'  the convolution at every pixel (its window starting at that pixel,
              the end padded with `padding`), then BlurPool(blur_size, p) / the ideal
              low-pass at the token grid's Nyquist frequency and subsampling by p.
  'lps'       the convolution at every pixel, one 2 x 2 component kept by the LPS scorer:
              patch_size 2 only (other sizes are refused when the model is built).
  'none'      the convolution at every pixel, no subsampling: one token per pixel.
With downsample='aps', posemb 'none' or 'peg', padding='circular' and pool 'gap', 'map',
'cls' or 'seq', the logits are invariant to every integer circular shift of the image up to
float rounding (tests/test_vit.py, docs/models.md): the anchored image moves by whole
patches, so the tokens move by whole tokens, which nothing after the embedding can see.
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from common.errors import ConfigError
from models import layers
from models.builder import MODELS, common_parts
from models.downsample import Downsampler
from models.padding import pad_spatial
from models.transformer import TokenEncoder, check_encoder_options

# big_vision's patch embedding initialiser.
patch_init = nn.initializers.lecun_normal()


class VisionTransformer(nn.Module):
  """See the module docstring. (N, H, W, 3), H and W multiples of patch_size ->
  float32 logits (N, num_classes)."""
  num_classes: int
  downsampler: Downsampler
  padding: str
  dtype: str
  width: int
  patch_size: int
  depth: int
  num_heads: int
  mlp_dim: int
  posemb: str
  pool: str

  def embed_op(self, x: jnp.ndarray, stride: int) -> jnp.ndarray:
    """The patch convolution at `stride` patch_size (no padding) or 1 (windows starting at
    every pixel, the end padded with the model's padding). (N, H, W, C) -> (N, H/s, W/s, D)."""
    p = self.patch_size
    if stride == 1 and p > 1:
      x = pad_spatial(x, ((0, p - 1), (0, p - 1)), self.padding, fill=0.0)
    elif stride != p:
      raise ValueError(f"the patch embedding runs at stride 1 or {p}, not {stride}")
    return nn.Conv(self.width, (p, p), strides=(stride, stride), padding="VALID",
                   dtype=layers.DTYPES.get(self.dtype), param_dtype=jnp.float32,
                   kernel_init=patch_init, name="patch_embedding")(x)

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False, temperature=1.0) -> jnp.ndarray:
    """temperature: Gumbel-softmax temperature of downsample='lps' when train=True."""
    if x.shape[1] % self.patch_size or x.shape[2] % self.patch_size:
      raise ValueError(f"patch_size {self.patch_size} does not divide the {x.shape[1]}x"
                       f"{x.shape[2]} input")
    x = x.astype(layers.DTYPES.get(self.dtype))
    grid = self.downsampler.patch_embed(x, self.embed_op, self.patch_size,
                                        name="patch_embedding", train=train,
                                        temperature=temperature)
    features = TokenEncoder(depth=self.depth, num_heads=self.num_heads, mlp_dim=self.mlp_dim,
                            posemb=self.posemb, pool=self.pool, padding=self.padding,
                            dtype=self.dtype, name="encoder")(grid)
    return layers.logits_layer(features, self.num_classes, dtype=self.dtype, name="head")


def check_patch_embedding(downsampler: Downsampler, downsample: str, patch_size: int) -> None:
  """Raises ConfigError unless patch_size is a positive integer that the strategy can embed."""
  if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
    raise ConfigError(f"patch_size must be a positive integer, got {patch_size!r}")
  try:
    downsampler.check_patch_size(patch_size)
  except ValueError as error:
    raise ConfigError(f"downsample={downsample!r} does not fit a patch embedding with "
                      f"patch_size {patch_size}: {error}") from None


@MODELS.register("vit")
def vit(*, num_classes: int = 10, downsample: str = "stride", blur_size: int = 3,
        padding: str = "zeros", dtype: str = "float32", width: int = 192,
        patch_size: int = 4, depth: int = 6, num_heads: int = 3, mlp_ratio: float = 4.0,
        posemb: str = "learn", pool: str = "gap", blur_padding: str = "auto",
        aps_norm: str = "l2", lps_hidden_divisor: int = 4) -> VisionTransformer:
  """Small CIFAR ViT (defaults: ViT-Tiny width and heads, 6 blocks, 4 x 4 patches, 64 tokens).

  width: token dimension D; mlp_ratio: MLP width / D; posemb: models.position
  (learn | sincos2d | none | peg); pool: models.transformer.POOLINGS (gap | map | cls | seq);
  downsample: how the patch embedding subsamples (module docstring); blur_size,
  blur_padding: the 'blurpool' strategy's blur; padding: of the 'peg' convolution and of the
  stride-1 patch convolution of 'blurpool', 'ideal', 'lps', 'none'.
  """
  downsampler = common_parts(downsample=downsample, blur_size=blur_size, padding=padding,
                             dtype=dtype, num_classes=num_classes, width=width,
                             blur_padding=blur_padding, aps_norm=aps_norm,
                             lps_hidden_divisor=lps_hidden_divisor)
  check_patch_embedding(downsampler, downsample, patch_size)
  mlp_dim = check_encoder_options(width=width, depth=depth, num_heads=num_heads,
                                  mlp_ratio=mlp_ratio, posemb=posemb, pool=pool)
  return VisionTransformer(num_classes=num_classes, downsampler=downsampler, padding=padding,
                           dtype=dtype, width=width, patch_size=patch_size, depth=depth,
                           num_heads=num_heads, mlp_dim=mlp_dim, posemb=posemb, pool=pool)
