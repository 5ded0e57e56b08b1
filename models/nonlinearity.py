"""Nonlinearities applied to feature maps, looked up by the model option `nonlinearity`.

Each entry maps an NHWC feature map (N, H, W, C) to one of the same shape and dtype. Every
model applies the registered function wherever it puts a ReLU on a feature map (conv units,
residual sums); the dense layers of a classifier head keep a plain ReLU, since they have no
spatial axes to alias.

  'relu'             the pointwise ReLU.
  'alias_free_relu'  ReLU on the x2 band-limited upsampling, ideally low-passed back
                     (Michaeli et al. 2023); see models/alias_free.py.
  'alias_free_poly'  the same with a degree-2 polynomial fitted to the ReLU (Michaeli et al.'s
                     polynomial activation): no aliasing, so with downsample='ideal' and
                     circular padding a ResNet is invariant to every integer circular shift up
                     to float rounding.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from common.registry import Registry
from models.alias_free import alias_free_poly, alias_free_relu

Nonlinearity = Callable[[jnp.ndarray], jnp.ndarray]

NONLINEARITIES: Registry[Nonlinearity] = Registry("nonlinearity")
NONLINEARITIES.register("relu")(jax.nn.relu)
NONLINEARITIES.register("alias_free_relu")(alias_free_relu)
NONLINEARITIES.register("alias_free_poly")(alias_free_poly)
