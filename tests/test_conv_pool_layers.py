"""The fast paths of models/layers.py compute the textbook operations.

`layers.conv` folds zero padding into the convolution (no separate pad op) and `max_pool`
uses strided slices (rows, then columns); both must equal the plain definitions:
a 'VALID' convolution of the explicitly padded map, and reduce-window max-pooling of it.
Tiny shapes, each case one compiled program (dispatched op by op, every primitive compiled
alone: several times the CPU time).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import layers
from models.padding import pad_spatial, same_pads


class _OneConv(nn.Module):
  kernel_size: int
  stride: int
  padding: str

  @nn.compact
  def __call__(self, x):
    return layers.conv(x, 5, self.kernel_size, stride=self.stride, padding=self.padding,
                       dtype="float32", name="conv")


@pytest.mark.parametrize("padding", ["zeros", "circular"])
@pytest.mark.parametrize("kernel_size,stride", [(1, 2), (3, 1), (3, 2), (4, 2), (5, 1)])
def test_conv_equals_valid_convolution_of_the_explicitly_padded_map(padding, kernel_size,
                                                                    stride):
  x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 7, 6, 3)), jnp.float32)
  module = _OneConv(kernel_size, stride, padding)
  params = module.init(jax.random.key(1), x)

  @jax.jit
  def got_and_expected(params, x):
    padded = pad_spatial(x, same_pads(kernel_size), padding, fill=0.0)
    return module.apply(params, x), jax.lax.conv_general_dilated(
        padded, params["params"]["conv"]["kernel"], (stride, stride), "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  got, expected = got_and_expected(params, x)
  assert got.shape == (2, -(-7 // stride), -(-6 // stride), 5)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding", ["zeros", "circular"])
@pytest.mark.parametrize("window,stride", [(2, 1), (2, 2), (3, 1), (3, 2), (3, 3)])
def test_max_pool_equals_reduce_window_of_the_padded_map(padding, window, stride):
  x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 9, 7, 3)), jnp.float32)

  @jax.jit
  def got_and_expected(x):
    padded = pad_spatial(x, same_pads(window), padding, fill=-jnp.inf)
    return layers.max_pool(x, window, stride, padding=padding), jax.lax.reduce_window(
        padded, -jnp.inf, jax.lax.max, (1, window, window, 1), (1, stride, stride, 1), "VALID")

  got, expected = got_and_expected(x)
  assert got.shape == (2, -(-9 // stride), -(-7 // stride), 3)
  np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
def test_max_pool_gradient_equals_reduce_window_gradient_without_ties():
  """Without ties every output's gradient goes to the one input that attains its max."""
  x = jnp.asarray(np.random.default_rng(0).standard_normal((1, 6, 6, 2)), jnp.float32)
  for stride in (1, 2):
    grad = jax.grad(lambda y: layers.max_pool(y, 3, stride, padding="zeros").sum())(x)
    expected = jax.grad(lambda y: jax.lax.reduce_window(
        pad_spatial(y, same_pads(3), "zeros", fill=-jnp.inf), -jnp.inf, jax.lax.max,
        (1, 3, 3, 1), (1, stride, stride, 1), "VALID").sum())(x)
    np.testing.assert_array_equal(grad, expected)
