"""Polyphase downsampling: adaptive (APS, Chaman & Dokmanic 2021) and learnable (LPS,
Rojas-Gomez et al. 2022) choice of which stride x stride polyphase component to keep.

A map x: (N, H, W, C) with H, W multiples of s has s*s polyphase components
x[:, i::s, j::s, :], numbered k = i * s + j. Plain subsampling always keeps k = 0; these
strategies keep, per example, the component chosen from the map itself, so a circular shift
of the input only permutes the components and shifts the chosen one: the downsampled map is
a circular shift of the unshifted one's, and a network ending in global average pooling is
exactly invariant to every circular shift (with circular padding).

Both follow the reference CIFAR design:
  - the component is chosen on the map the op produced at stride 1, before any blur;
  - with blur_size > 1 that map is blurred (binomial, stride 1, the model's padding) and the
    chosen component is taken from the blurred map;
  - a residual block's projection shortcut takes the SAME component index of its own input
    (blurred alike), then runs its 1x1 conv at stride 1, so both branches stay aligned;
  - a pooling layer runs at stride 1 and is then subsampled the same way.

'aps'  keeps the component with the largest norm over channels and space (`aps_norm`: 'l2'
       (default), 'l1', 'linf'). Ties resolve to the lowest index k (jnp.argmax). That is
       deterministic; it is shift consistent whenever the tied components are equal maps
       (an all-zero map after a ReLU, a constant map, any map periodic with period s), since
       then every choice gives the same output. Ties between different components with equal
       norms cannot be broken consistently by any rule of the norms alone (none occurred with
       random inputs).
'lps'  scores each component with a small network shared across components (3x3 conv to
       max(C // lps_hidden_divisor, 1) channels (model option, default 4; the reference code
       uses C channels for CIFAR-10, lps_hidden_divisor=1), ReLU, 3x3 conv, circular padding,
       mean over channels and space -> one logit per component). Evaluation (train=False) keeps the argmax
       component; components whose logits tie exactly go to the largest l2 norm (the APS
       rule), and only then to the lowest k. Exact ties are not rare: when the scorer's
       hidden ReLU is inactive on several components, their logits all equal the second
       conv's bias (with 4-channel maps the scorer has 1 hidden channel, and at random
       weights plain lowest-k tie-breaking changed the logits of 8 x 8 AlexNets by 25% under
       circular shifts); the norm keeps the choice shift consistent there. Training mixes the components with
       Gumbel-softmax weights softmax((logits + g) / temperature), g ~ Gumbel(0, 1) drawn
       from the 'lps' PRNG stream (model.apply(..., rngs={'lps': key}, temperature=t)); the
       temperature comes from config.train.lps_temperature via training/temperature.py. The
       shortcut reuses the main branch's weights.

A transformer's patch embedding (Downsampler.patch_embed, models/vit.py) with 'aps' is
Ding et al.'s (2023) polyphase anchoring instead, for every patch size p: the p x p phase of
the input with the largest norm is rolled to the origin (anchor_phase), then the stride-p
patch convolution runs; 'lps' there is the CNN rule (the patch convolution at every pixel,
one of its 2 x 2 components kept), so patch_size 2 only.

Only stride 2 (and 1 = no subsampling) is supported, as in both papers; models check this
when they are built. Odd map sizes: the map is first padded circularly (wrapped) at the
bottom/right to a multiple of the stride, so the output is ceil(H / 2) x ceil(W / 2) like
every other strategy; exactness does not survive there (a circular shift of an odd-size map
is not a permutation of the components of its wrap-padded version). All CIFAR models keep
even sizes at every downsampling point for 32 x 32 (and 8 x 8, 16 x 16) inputs.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from common.errors import ConfigError
from common.registry import Registry
from models import layers
from models.blurpool import BlurPool, binomial_filter
from models.downsample import DOWNSAMPLERS, STRATEGY_OPTION_CHECKS, Downsampler, StridedOp

SUPPORTED_STRIDES = (1, 2)
LPS_RNG_STREAM = "lps"  # name of the PRNG stream LPS draws its Gumbel noise from in training
LPS_HIDDEN_DIVISOR = 4  # default: the scorer's hidden conv has max(C // 4, 1) channels

# Norm of each polyphase component over (H, W, C): (N, K, h, w, C) -> (N, K). Monotone
# transforms are left out (squared l2), as only the argmax matters.
APS_NORMS: Registry[Callable[[jnp.ndarray], jnp.ndarray]] = Registry("APS norm")
APS_NORMS.register("l2")(lambda c: jnp.sum(jnp.square(c.astype(jnp.float32)), axis=(2, 3, 4)))
APS_NORMS.register("l1")(lambda c: jnp.sum(jnp.abs(c.astype(jnp.float32)), axis=(2, 3, 4)))
APS_NORMS.register("linf")(lambda c: jnp.max(jnp.abs(c.astype(jnp.float32)), axis=(2, 3, 4)))
STRATEGY_OPTION_CHECKS["aps_norm"] = APS_NORMS.get


def check_hidden_divisor(value) -> int:
  """The model option lps_hidden_divisor: an integer >= 1 (else ValueError)."""
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ConfigError(f"lps_hidden_divisor must be an integer >= 1 (the LPS scorer's hidden "
                      f"width is max(C // lps_hidden_divisor, 1)), got {value!r}")
  return value


STRATEGY_OPTION_CHECKS["lps_hidden_divisor"] = check_hidden_divisor


def pad_to_multiple(x: jnp.ndarray, stride: int) -> jnp.ndarray:
  """Wrap-pads H and W of (N, H, W, C) at the end up to multiples of `stride`."""
  pads = [(-size) % stride for size in x.shape[1:3]]
  if not any(pads):
    return x
  return jnp.pad(x, ((0, 0), (0, pads[0]), (0, pads[1]), (0, 0)), mode="wrap")


def polyphase_components(x: jnp.ndarray, stride: int) -> jnp.ndarray:
  """(N, s*h, s*w, C) -> (N, s*s, h, w, C); component k = i * s + j is x[:, i::s, j::s]."""
  n, height, width, channels = x.shape
  h, w = height // stride, width // stride
  x = x.reshape(n, h, stride, w, stride, channels).transpose(0, 2, 4, 1, 3, 5)
  return x.reshape(n, stride * stride, h, w, channels)


def aps_index(x: jnp.ndarray, stride: int, norm: str = "l2") -> jnp.ndarray:
  """APS choice for each example of x: (N, H, W, C) -> int32 (N,), the component index k.

  H and W must be multiples of `stride` (see pad_to_multiple). Ties go to the lowest k.
  """
  return jnp.argmax(APS_NORMS.get(norm)(polyphase_components(x, stride)), axis=1).astype(
      jnp.int32)


def lps_index(logits: jnp.ndarray, x: jnp.ndarray, stride: int) -> jnp.ndarray:
  """LPS hard choice: argmax of the scorer's logits (N, s*s), exact ties broken by the
  components' l2 norm (APS), then by the lowest k. x: (N, H, W, C) -> int32 (N,)."""
  tied_best = logits == jnp.max(logits, axis=1, keepdims=True)
  norms = APS_NORMS.get("l2")(polyphase_components(x, stride))
  return jnp.argmax(jnp.where(tied_best, norms, -jnp.inf), axis=1).astype(jnp.int32)


def anchor_phase(x: jnp.ndarray, stride: int, norm: str = "l2") -> jnp.ndarray:
  """Polyphase anchoring (Ding et al. 2023): each example circularly rolled so that its APS
  component (aps_index: largest `norm`, ties to the lowest k) starts at pixel (0, 0).

  (N, H, W, C), H and W multiples of `stride` -> same shape. A circular shift of an example
  by (a, b) pixels changes its anchored version by a circular shift by multiples of
  `stride` only (when the largest norm is unique, or tied components are equal maps), so a
  stride-`stride` patch convolution of it gives tokens shifted by whole tokens.
  """
  index = aps_index(x, stride, norm)
  rows, cols = index // stride, index % stride
  return jax.vmap(lambda image, row, col: jnp.roll(image, (-row, -col), axis=(0, 1)))(
      x, rows, cols)


def take_component(x: jnp.ndarray, index: jnp.ndarray, stride: int) -> jnp.ndarray:
  """Component `index[n]` of each example: (N, s*h, s*w, C), (N,) -> (N, h, w, C)."""
  components = polyphase_components(x, stride)
  return jnp.take_along_axis(components, index[:, None, None, None, None], axis=1)[:, 0]


def mix_components(x: jnp.ndarray, weights: jnp.ndarray, stride: int) -> jnp.ndarray:
  """sum_k weights[n, k] * component k: (N, s*h, s*w, C), (N, s*s) -> (N, h, w, C)."""
  components = polyphase_components(x, stride)
  return jnp.einsum("nk,nkhwc->nhwc", weights.astype(components.dtype), components)


class Selection(NamedTuple):
  """Which component(s) a downsampling point keeps, shared by a block's two branches.

  index: int32 (N,) hard choice, or None; weights: (N, s*s) soft mixing weights, or None.
  Exactly one is set.
  """
  index: jnp.ndarray | None
  weights: jnp.ndarray | None


@dataclasses.dataclass(frozen=True)
class PolyphaseDownsampler(Downsampler):
  """Shared machinery of APS and LPS: subclasses implement `select`."""

  def check_stride(self, stride: int) -> None:
    if stride not in SUPPORTED_STRIDES:
      raise ValueError(f"{type(self).__name__} supports stride 2 only (and 1 = none), got "
                       f"stride {stride}")

  def __post_init__(self):
    binomial_filter(self.blur_size)  # raises ValueError for an invalid blur_size

  def select(self, x: jnp.ndarray, stride: int, *, name: str, train: bool,
             temperature: Any) -> Selection:
    """The selection for map x: (N, H, W, C), H and W multiples of stride."""
    raise NotImplementedError

  def take(self, x: jnp.ndarray, selection: Selection, stride: int, name: str) -> jnp.ndarray:
    """Blur x (if blur_size > 1), then keep the selected component(s)."""
    if self.blur_size > 1:
      x = BlurPool(size=self.blur_size, stride=1, padding=self.blur_padding, name=f"{name}_blur")(x)
    x = pad_to_multiple(x, stride)
    if selection.index is not None:
      return take_component(x, selection.index, stride)
    return mix_components(x, selection.weights, stride)

  def _subsample(self, y: jnp.ndarray, stride: int, name: str, train: bool,
                 temperature: Any) -> tuple[jnp.ndarray, Selection | None]:
    """y at stride 1 -> (subsampled y, its selection); stride 1 returns (y, None)."""
    self.check_stride(stride)
    if stride == 1:
      return y, None
    selection = self.select(pad_to_multiple(y, stride), stride, name=name, train=train,
                            temperature=temperature)
    return self.take(y, selection, stride, name), selection

  def pool(self, x, pool_op, stride, *, name, train=False, temperature=1.0):
    return self._subsample(pool_op(x, 1), stride, name, train, temperature)[0]

  def strided_conv(self, x, conv_op, stride, *, name, train=False, temperature=1.0):
    return self._subsample(conv_op(x, 1), stride, name, train, temperature)[0]

  def shortcut(self, x, project_op, stride, *, name):
    """A shortcut on its own (no main branch to follow) selects on its own input."""
    return project_op(self._subsample(x, stride, name, False, 1.0)[0], 1)

  def branches(self, main_x: jnp.ndarray, conv_op: StridedOp, shortcut_x: jnp.ndarray,
               project_op: StridedOp, stride: int, *, main_name: str, shortcut_name: str,
               train: bool = False, temperature: Any = 1.0
               ) -> tuple[jnp.ndarray, jnp.ndarray]:
    """The main branch chooses; the shortcut takes the same component of its own input."""
    main, selection = self._subsample(conv_op(main_x, 1), stride, main_name, train,
                                      temperature)
    if selection is not None:
      shortcut_x = self.take(shortcut_x, selection, stride, shortcut_name)
    return main, project_op(shortcut_x, 1)


@DOWNSAMPLERS.register("aps")
@dataclasses.dataclass(frozen=True)
class AdaptivePolyphaseDownsampler(PolyphaseDownsampler):
  """APS: keep the component of largest `aps_norm` (no parameters, same in training)."""
  aps_norm: str = "l2"

  def __post_init__(self):
    super().__post_init__()
    APS_NORMS.get(self.aps_norm)

  def select(self, x, stride, *, name, train, temperature):
    del name, train, temperature
    return Selection(index=aps_index(x, stride, self.aps_norm), weights=None)

  def check_patch_size(self, patch_size: int) -> None:
    """Polyphase anchoring works for every patch size."""
    del patch_size

  def patch_embed(self, x, embed_op, patch_size, *, name, train=False, temperature=1.0):
    """Ding et al.'s polyphase-anchored patch embedding: the p x p phase of the INPUT with
    the largest norm is rolled to the origin (anchor_phase), then the stride-p patch
    convolution. No blur (blur_size does not apply here), as in their method."""
    del name, train, temperature
    if x.shape[1] % patch_size or x.shape[2] % patch_size:
      raise ValueError(f"downsample='aps' anchors the patch grid on a {x.shape[1]}x"
                       f"{x.shape[2]} input, which patch_size {patch_size} does not divide")
    return embed_op(anchor_phase(x, patch_size, self.aps_norm), patch_size)


class PolyphaseScorer(nn.Module):
  """LPS scorer: one logit per polyphase component, (N, K, h, w, C) -> float32 (N, K).

  3x3 conv (C -> max(C // hidden_divisor, 1), bias) -> ReLU -> 3x3 conv (same width, bias),
  circular padding, shared across components; mean over space and channels.
  """
  dtype: str = "float32"  # compute dtype name (the map's); parameters are float32
  hidden_divisor: int = LPS_HIDDEN_DIVISOR

  @nn.compact
  def __call__(self, components: jnp.ndarray) -> jnp.ndarray:
    n, k, h, w, channels = components.shape
    hidden = max(channels // self.hidden_divisor, 1)
    y = components.reshape(n * k, h, w, channels)
    y = layers.conv(y, hidden, 3, padding="circular", dtype=self.dtype, use_bias=True,
                    name="conv1")
    y = layers.conv(nn.relu(y), hidden, 3, padding="circular", dtype=self.dtype,
                    use_bias=True, name="conv2")
    return jnp.mean(y.astype(jnp.float32), axis=(1, 2, 3)).reshape(n, k)


class GumbelSoftmaxWeights(nn.Module):
  """softmax((logits + Gumbel noise) / temperature) over the last axis; noise from 'lps'."""

  @nn.compact
  def __call__(self, logits: jnp.ndarray, temperature: Any) -> jnp.ndarray:
    if not self.has_rng(LPS_RNG_STREAM) and not self.is_initializing():
      raise ValueError(
          f"downsample='lps' in training draws Gumbel noise: call model.apply(..., "
          f"train=True, temperature=t, rngs={{'{LPS_RNG_STREAM}': key}}) (training/steps.py "
          f"does this when given a temperature_schedule)")
    noise = jax.random.gumbel(self.make_rng(LPS_RNG_STREAM), logits.shape, jnp.float32)
    return jax.nn.softmax((logits + noise) / temperature, axis=-1)


@DOWNSAMPLERS.register("lps")
@dataclasses.dataclass(frozen=True)
class LearnablePolyphaseDownsampler(PolyphaseDownsampler):
  """LPS: a learned scorer chooses (hard argmax in evaluation, Gumbel-softmax in training).

  lps_hidden_divisor: the scorer's hidden width is max(C // lps_hidden_divisor, 1); 4 (the
  default here) or 1 (C channels, the reference code's CIFAR-10 setting).
  """
  uses_temperature = True
  lps_hidden_divisor: int = LPS_HIDDEN_DIVISOR

  def __post_init__(self):
    super().__post_init__()
    check_hidden_divisor(self.lps_hidden_divisor)

  def select(self, x, stride, *, name, train, temperature):
    logits = PolyphaseScorer(dtype=jnp.dtype(x.dtype).name,
                             hidden_divisor=self.lps_hidden_divisor, name=f"{name}_lps")(
        polyphase_components(x, stride))
    if not train:
      return Selection(index=lps_index(logits, x, stride), weights=None)
    weights = GumbelSoftmaxWeights(name=f"{name}_gumbel")(logits, temperature)
    return Selection(index=None, weights=weights)
