"""Position encodings of the vision transformers (models/vit.py, models/cct.py), by name.

Each acts on the token grid (N, h, w, D) (patch tokens only; a class token is never encoded):
  'learn'     a learned embedding (h * w, D) added to the tokens (normal, stddev 1/sqrt(D),
              as big_vision's ViT); absolute positions.
  'sincos2d'  the fixed 2-D sine-cosine embedding of big_vision (D/4 frequencies per axis,
              temperature 10,000; D must be a multiple of 4); absolute positions.
  'none'      nothing: the encoder is equivariant to every permutation of the tokens.
  'peg'       Chu et al.'s (2023) conditional position encoding: tokens + a depthwise 3x3
              convolution of the grid (with bias), padded with the model's `padding`,
              after the first encoder block (their best position). Zero padding lets it read
              absolute position from the border; circular padding makes it equivariant to
              every circular shift of the grid by whole tokens.
A new encoding is one more PositionEncoding registered in POSITION_ENCODINGS.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from common.errors import ConfigError
from common.registry import Registry
from models.layers import DTYPES
from models.padding import pad_spatial

SINCOS_TEMPERATURE = 10_000.0
PEG_KERNEL = 3


def _no_check(width: int) -> None:
  del width


def _check_multiple_of_4(width: int) -> None:
  if width % 4:
    raise ConfigError(f"posemb='sincos2d' needs a width that is a multiple of 4 (D/4 "
                      f"frequencies per axis, sine and cosine), got width={width}")


@dataclasses.dataclass(frozen=True)
class PositionEncoding:
  """A position encoding.

  Attributes:
    make: make(padding=..., dtype=..., name=...) -> grid_fn, called inside the encoder's
      compact method; grid_fn maps the token grid (N, h, w, D) to the encoded grid.
    after_first_block: applied after the first encoder block instead of at its input.
    check: check(width) raises ConfigError if the encoding does not fit token width D.
  """
  make: Callable[..., Callable[[jnp.ndarray], jnp.ndarray]]
  after_first_block: bool = False
  check: Callable[[int], None] = _no_check


class LearnedPositionEmbedding(nn.Module):
  """grid + a learned (h, w, D) embedding; (N, h, w, D) -> (N, h, w, D)."""
  dtype: str = "float32"

  @nn.compact
  def __call__(self, grid: jnp.ndarray) -> jnp.ndarray:
    embedding = self.param("pos_embedding",
                           nn.initializers.normal(stddev=1.0 / np.sqrt(grid.shape[-1])),
                           grid.shape[1:], jnp.float32)
    return grid + embedding.astype(grid.dtype)


def sincos2d_embedding(height: int, width: int, features: int) -> np.ndarray:
  """big_vision's 2-D sine-cosine embedding: (height, width, features), features % 4 == 0;
  channels [sin(x w), cos(x w), sin(y w), cos(y w)], w = 10000**(-i / (features/4 - 1))."""
  quarter = features // 4
  omega = 1.0 / SINCOS_TEMPERATURE**(np.arange(quarter) / max(quarter - 1, 1))
  y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  y, x = y[..., None] * omega, x[..., None] * omega
  return np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=-1).astype(
      np.float32)


class PositionEncodingGenerator(nn.Module):
  """Chu et al.'s PEG: grid + depthwise PEG_KERNEL x PEG_KERNEL conv (bias) of the grid."""
  padding: str = "zeros"
  dtype: str = "float32"

  @nn.compact
  def __call__(self, grid: jnp.ndarray) -> jnp.ndarray:
    before = (PEG_KERNEL - 1) // 2
    pads = ((before, PEG_KERNEL - 1 - before),) * 2
    padded = pad_spatial(grid, pads, self.padding, fill=0.0)
    features = grid.shape[-1]
    return grid + nn.Conv(features, (PEG_KERNEL, PEG_KERNEL), padding="VALID",
                          feature_group_count=features, dtype=DTYPES.get(self.dtype),
                          param_dtype=jnp.float32, name="depthwise_conv")(padded)


def _learned(*, padding: str, dtype: str, name: str):
  del padding
  return LearnedPositionEmbedding(dtype=dtype, name=name)


def _sincos2d(*, padding: str, dtype: str, name: str):
  del padding, dtype, name
  return lambda grid: grid + jnp.asarray(sincos2d_embedding(*grid.shape[1:]), grid.dtype)


def _none(*, padding: str, dtype: str, name: str):
  del padding, dtype, name
  return lambda grid: grid


def _peg(*, padding: str, dtype: str, name: str):
  return PositionEncodingGenerator(padding=padding, dtype=dtype, name=name)


POSITION_ENCODINGS: Registry[PositionEncoding] = Registry("position encoding (posemb)")
POSITION_ENCODINGS.register("learn")(PositionEncoding(make=_learned))
POSITION_ENCODINGS.register("sincos2d")(PositionEncoding(make=_sincos2d,
                                                         check=_check_multiple_of_4))
POSITION_ENCODINGS.register("none")(PositionEncoding(make=_none))
POSITION_ENCODINGS.register("peg")(PositionEncoding(make=_peg, after_first_block=True))
