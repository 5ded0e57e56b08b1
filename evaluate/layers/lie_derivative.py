"""The cumulative Lie derivative by layer, for continuous translations: the Lie derivative
(Gruver, Finzi, Goldblum & Wilson, "The Lie derivative for measuring learned equivariance",
ICLR 2023) of the network up to each layer. It is NOT the paper's layer-wise measure (each
layer's own Lie derivative pushed to the output, summing to the end-to-end value), which is
evaluate/layers/lie_layerwise.py ('lie_derivative_layerwise'); the analysis keeps its
registry name 'lie_derivative'.

For a test image x, an axis a (y: rows, x: columns) and each captured layer F (the map from the
input image to that layer's output; see evaluate/layers/capture.py) of cumulative stride
s = 32 / (its size along a):

  L_a F(x) = d/dt  S_{-t/s} F(T_t x)   at t = 0

T_t moves the image by t pixels along a and S_u moves the map by u of ITS OWN samples along a,
both through the FFT phase ramp (common.fourier.fourier_shift: ideal interpolation on the
torus). So the target is the translation of the map at its own resolution: an input shift by
t pixels is t / s samples of a stride-s map, as in the paper's code (whose translation works
in normalised coordinates, the same fraction of every map's extent). L_a F = 0 exactly when F
commutes with every small continuous translation (equivariance); for a vector layer (after
global pooling: dense layers, logits) S is the identity and L_a F = d/dt F(T_t x), zero for
invariance. Equivalently L_a F(x) = J_F(x) d_a x - (1/s) d_a F(x), with d_a the spectral
derivative (a Nyquist row/column has none: d/dt cos(pi t) = 0 at t = 0). All layers come from
one jax.jvp of the capture of F(T_t x), moved back, in t at 0, per axis.

Reported per layer and image (then mean ± standard error over images, per axis and averaged
over the two axes):
  lie_derivative           mean over the map's entries of |L_a F(x)|, the normalisation of
                           the paper's code (ngruver/lie-deriv, lee/e2e_lee.py: its
                           end-to-end measure is the mean over classes of |L_a| of the
                           softmax probabilities); activation units per input pixel, so
                           layers of different scales differ for that reason too.
  relative_lie_derivative  ||L_a F(x)|| / ||F(x)|| (l2 over the map): scale free, per input
                           pixel; the first-order rate of shiftability's equivariance error
                           ||F(T_t x) - S_{t/s} F(x)|| / ||F(x)|| ~ |t| relative_lie_derivative
                           for small t.
and, for the network's output, end_to_end: mean over classes of |L_a softmax(f(x))| (the
paper's local equivariance error of the predictions).

What is and is not zero: a circular convolution, a per-channel affine map (inference
BatchNorm) and global average pooling commute with every Fourier shift, so the layers up to the
first nonlinearity of a circular-padded stride-1 network have L = 0 up to float rounding. A
pointwise ReLU does not: ReLU(T_t x) has content above the Nyquist frequency that the sampled
map cannot represent, which is the aliasing the paper attributes most of the equivariance error
of CNNs to; so a stride-1 circular ReLU network is exactly invariant to integer rolls but its
Lie derivative is NOT zero after the first ReLU. A network of circular convolutions, affine
norms and a degree-2 polynomial evaluated on the x2 grid (models.alias_free.alias_free_poly) on
band-limited input (`band_limit`: the input's Nyquist row and column removed) has L = 0 at
every layer up to float rounding.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from common.errors import ConfigError
from common.fourier import fourier_shift, remove_nyquist
from data.constants import IMAGE_SHAPE
from evaluate import metrics
from evaluate.layers.capture import capture_layers_and_output, layer_shapes
from evaluate.layers.chunks import map_chunks
from evaluate.layers.registry import ANALYSES, Analysis
from evaluate.plots import layers as layer_plots

SIDE = IMAGE_SHAPE[0]
AXES = ("y", "x")  # image axis 1 (rows) and 2 (columns) of NHWC
METRICS = ("lie_derivative", "relative_lie_derivative")
_TINY = 1e-12


def _moved_back(value: jnp.ndarray, t, axis: int) -> jnp.ndarray:
  """A captured layer of the input moved by t pixels along image axis `axis` (1 or 2), moved
  back by t / stride of its own samples (spatial maps); vectors unchanged."""
  if value.ndim != 4:
    return value
  stride = SIDE / value.shape[axis]
  return fourier_shift(value, (-t / stride,), (axis,))


def lie_derivatives(model, variables, images: jnp.ndarray, axis: int, *, pattern: str = "",
                    band_limit: bool = False) -> tuple[dict[str, jnp.ndarray],
                                                       dict[str, jnp.ndarray], jnp.ndarray]:
  """The Lie derivatives of every captured layer along image axis `axis` (1 = y, 2 = x).

  Args:
    images: (n, 32, 32, 3) float pixel values.
    band_limit: remove the images' Nyquist row and column first.
  Returns:
    (layers: name -> F(x), derivatives: name -> L F(x) of the same shape, in capture order;
     probability derivatives (n, classes): d/dt softmax(f(T_t x)) at t = 0).
  """
  x = images.astype(jnp.float32)
  if band_limit:
    x = remove_nyquist(x, (1, 2))

  names = []  # capture order (a returned dict would come back with sorted keys)

  def moved(t):
    logits, layers = capture_layers_and_output(model, variables,
                                               fourier_shift(x, (t,), (axis,)), pattern)
    names[:] = list(layers)
    return (tuple(_moved_back(value, t, axis) for value in layers.values()),
            jax.nn.softmax(logits, axis=-1))

  (layers, _), (derivatives, probabilities) = jax.jvp(
      moved, (jnp.zeros((), jnp.float32),), (jnp.ones((), jnp.float32),))
  return dict(zip(names, layers)), dict(zip(names, derivatives)), probabilities


def _per_image(layer: jnp.ndarray, derivative: jnp.ndarray) -> dict[str, jnp.ndarray]:
  reduce = tuple(range(1, layer.ndim))
  return {"lie_derivative": jnp.mean(jnp.abs(derivative), axis=reduce),
          "relative_lie_derivative": jnp.sqrt(jnp.sum(derivative ** 2, axis=reduce))
                                     / jnp.maximum(jnp.sqrt(jnp.sum(layer ** 2, axis=reduce)),
                                                   _TINY)}


@functools.lru_cache(maxsize=8)
def make_lie_derivative_fn(model, pattern: str, band_limit: bool):
  """Jitted fn(variables, images (n, 32, 32, 3) uint8) -> (tuple over layers (capture order)
  of {metric: (n, 2)} (axes y, x), end-to-end (n, 2))."""

  def measures(variables, images):
    per_axis = []
    for axis in (1, 2):
      layers, derivatives, probabilities = lie_derivatives(
          model, variables, images, axis, pattern=pattern, band_limit=band_limit)
      per_axis.append(([_per_image(layers[name], derivatives[name]) for name in layers],
                       jnp.mean(jnp.abs(probabilities), axis=-1)))
    by_layer = tuple({metric: jnp.stack([axis_values[0][index][metric]
                                         for axis_values in per_axis], axis=1)
                      for metric in METRICS}
                     for index in range(len(per_axis[0][0])))
    return by_layer, jnp.stack([values[1] for values in per_axis], axis=1)

  return jax.jit(measures)


def lie_derivative_by_layer(model, variables, images: np.ndarray, *, pattern: str = "",
                            band_limit: bool = False, images_per_chunk: int = 25,
                            shardings=None, say=None
                            ) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray]:
  """Per image: (name -> {metric: (N, 2)}, end-to-end (N, 2)), axes (y, x); images (N, 32,
  32, 3) uint8. See the module docstring."""
  fn = make_lie_derivative_fn(model, pattern, bool(band_limit))
  names = list(layer_shapes(model, variables, pattern))
  by_layer, end_to_end = map_chunks(fn, variables, images, images_per_chunk=images_per_chunk,
                                    shardings=shardings, say=say)
  return dict(zip(names, by_layer)), end_to_end


def _stats(values: np.ndarray) -> dict[str, Any]:
  """(N, 2) per image and axis -> {"mean", "stderr"} of the per-image axis mean, plus the
  mean per axis."""
  return dict(metrics.stat(values.mean(1)),
              per_axis={axis: float(values[:, i].mean()) for i, axis in enumerate(AXES)})


def summarize(per_image: dict[str, dict[str, np.ndarray]], shapes) -> list[dict[str, Any]]:
  """One JSON-able entry per layer: name, shape, stride, each metric's stats."""
  entries = []
  for name, values in per_image.items():
    shape = shapes[name]
    entry = {"name": name, "shape": list(shape),
             "stride": SIDE / shape[0] if len(shape) == 3 else None,
             "target": "equivariance" if len(shape) == 3 else "invariance"}
    for metric in METRICS:
      entry[metric] = _stats(values[metric])
    entries.append(entry)
  return entries


def check(section, layer_names) -> None:
  """Raises ValueError for a bad config.lie_derivative."""
  del layer_names
  if not isinstance(section.band_limit, bool):
    raise ConfigError(f"band_limit must be True or False, got {section.band_limit!r}")


def run(context, section) -> dict[str, Any]:
  """The analysis: per-layer Lie derivatives over the context's test images, JSON, plot."""
  per_image, end_to_end = lie_derivative_by_layer(
      context.model, context.variables, context.images, pattern=context.config.layer_pattern,
      band_limit=section.band_limit, images_per_chunk=int(context.config.images_per_chunk),
      shardings=context.shardings, say=context.say)
  for name, values in per_image.items():
    if not all(np.all(np.isfinite(array)) for array in values.values()):
      raise ValueError(f"layer {name}: non-finite Lie derivative (NaN or inf feature maps; "
                       "is the checkpoint diverged?)")
  entries = summarize(per_image, context.layer_shapes)
  context.save_arrays("lie_derivative_per_image.npz", end_to_end=end_to_end,
                      **{f"{name}:{metric}": array for name, values in per_image.items()
                         for metric, array in values.items()})
  image = "band-limited" if section.band_limit else "raw"
  path = context.output("lie_derivative_by_layer.png", lambda path: layer_plots.plot_by_depth(
      [dict(label=context.model_label, layers=entries)],
      [("relative_lie_derivative", "relative Lie derivative\n||L F|| / ||F|| per pixel"),
       ("lie_derivative", "Lie derivative\nmean |L F| per pixel")],
      path,
      title=f"{context.model_label}: cumulative Lie derivative of each layer along continuous "
            f"translations (y and x averaged; maps: relative to their own translation by "
            f"t / stride), {len(context.images)} {image} test images (mean ± stderr)\n"
            f"{context.command}"))
  return {"band_limit": bool(section.band_limit), "axes": list(AXES), "layers": entries,
          "end_to_end": _stats(end_to_end), "files": [path]}


ANALYSES.register("lie_derivative")(Analysis(check, run))
