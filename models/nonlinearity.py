"""Nonlinearities applied to feature maps, looked up by the model option `nonlinearity`.

Each entry is a function apply(x, *, name) -> y mapping an NHWC feature map (N, H, W, C) to
one of the same shape and dtype, called inside the model's `@nn.compact` method; trainable
entries create their parameters as a submodule called `name` of the calling module. Every
model applies the registered function wherever it puts a ReLU on a feature map (conv units,
residual sums); the dense layers of a classifier head keep a plain ReLU, since they have no
spatial axes to alias.

  'relu'             the pointwise ReLU.
  'alias_free_relu'  the upsampled ReLU: ReLU on the x2 band-limited upsampling, ideally
                     low-passed back (the StyleGAN3 recipe, Karras et al. 2021). It only
                     reduces aliasing (the ReLU's spectrum is unbounded); it is not Michaeli
                     et al.'s method. See models/alias_free.py.
  'alias_free_poly'  the same with one fixed degree-2 polynomial fitted to the ReLU: no
                     aliasing of maps without Nyquist content, so with downsample='ideal' and
                     circular padding a ResNet is invariant to every integer circular shift
                     up to float rounding, and to half-pixel shifts of band-limited inputs
                     only (the stem applies it to the raw image's Nyquist content).
  'afc_poly'         Michaeli et al.'s (CVPR 2023) activation: a per-channel trainable degree-2
                     polynomial with trainable input and output scales, on the x2 grid, after
                     dropping the Nyquist content of its input (models/afc.py). With
                     downsample='ideal' ('ideal_pool' for AlexNet) and circular padding the
                     network is invariant up to float rounding to integer and fractional
                     circular shifts of raw images.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from common.registry import Registry
from models.afc import AFCPolyActivation
from models.alias_free import alias_free_poly, alias_free_relu

# apply(x, *, name) -> y, called inside a compact method (see the module docstring).
Nonlinearity = Callable[..., jnp.ndarray]

NONLINEARITIES: Registry[Nonlinearity] = Registry("nonlinearity")


def _fixed(function: Callable[[jnp.ndarray], jnp.ndarray]) -> Nonlinearity:
  """A nonlinearity without parameters (the submodule name is unused)."""

  def apply(x: jnp.ndarray, *, name: str) -> jnp.ndarray:
    del name
    return function(x)

  return apply


NONLINEARITIES.register("relu")(_fixed(jax.nn.relu))
NONLINEARITIES.register("alias_free_relu")(_fixed(alias_free_relu))
NONLINEARITIES.register("alias_free_poly")(_fixed(alias_free_poly))


@NONLINEARITIES.register("afc_poly")
def afc_poly(x: jnp.ndarray, *, name: str) -> jnp.ndarray:
  """AFCPolyActivation, created as the submodule `name` of the calling module."""
  return AFCPolyActivation(name=name)(x)
