"""Gruver et al.'s layer-wise Lie derivative (evaluate/layers/lie_layerwise.py): properties
from the chain rule and from exact equivariance, on tiny random networks."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evaluate.layers import lie_layerwise, translations


class _CircularNet(nn.Module):
  """Stride-1 circular convolutions and inference BatchNorm, then global average pooling and
  a dense layer; `relu`: a ReLU (the `activate` method, one unit) after each norm."""
  relu: bool = False

  @nn.compact
  def __call__(self, x, train=False):
    del train
    for index in (1, 2):
      x = nn.Conv(3, (3, 3), padding="CIRCULAR", name=f"conv{index}")(x)
      x = nn.BatchNorm(use_running_average=True, name=f"norm{index}")(x)
      if self.relu:
        x = self.activate(x, name=f"act{index}")
    return nn.Dense(4, name="classifier")(self.pool_features(x))

  def activate(self, x, name):
    del name
    return jax.nn.relu(x)

  def pool_features(self, x):
    return x.mean((1, 2))


def _setup(relu, seed=0):
  model = _CircularNet(relu=relu)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  inputs = jax.random.normal(jax.random.key(seed), (2, 32, 32, 3))
  return model, variables, inputs


def _layerwise(model, variables, inputs, axis=2, translation="fourier"):
  return jax.jit(lambda v, x: lie_layerwise.layerwise_lie_derivatives(
      model, v, x, axis, translation=translation)[1:])(variables, inputs)


def test_bilinear_translation_derivative_is_the_scaled_forward_difference_reflected():
  x = jnp.arange(5.0).reshape(1, 5, 1, 1) ** 2  # 0 1 4 9 16 along rows
  _, derivative = jax.jvp(lambda t: translations.bilinear_translate(x, t, 1), (0.0,), (1.0,))
  # (n - 1) / 2 = 2 times x[i + 1] - x[i], the sample after the last read as x[n - 2] = 9.
  np.testing.assert_allclose(derivative[0, :, 0, 0], 2.0 * np.array([1, 3, 5, 7, 9 - 16]))
  np.testing.assert_array_equal(translations.bilinear_translate(x, 0.0, 1), x)
  vector = jnp.ones((2, 3))
  assert translations.TRANSLATIONS.get("fourier")(vector, 0.3, 1) is vector


@pytest.mark.slow
def test_unit_names_follow_the_call_order_and_include_methods():
  model, variables, _ = _setup(relu=True)
  names, operations = lie_layerwise.unit_names(model, variables)
  assert names == ["conv1", "norm1", "act1", "conv2", "norm2", "act2", "pool_features",
                   "classifier"]
  assert operations[:3] == ["Conv", "BatchNorm", "_CircularNet.activate"]


@pytest.mark.slow
def test_linear_circular_network_has_no_contribution_at_any_layer():
  """Circular convolutions, affine norms and global pooling commute with the Fourier shift:
  every unit's own Lie derivative is 0 up to float rounding, and so is the network's."""
  model, variables, inputs = _setup(relu=False)
  contributions, end_to_end = _layerwise(model, variables, inputs)
  scale = float(jnp.abs(jax.jvp(lambda x: model.apply(variables, x), (inputs,),
                                (jnp.ones_like(inputs),))[1]).max())  # a unit-size tangent
  assert contributions.shape == (2, 6, 4) and end_to_end.shape == (2, 4)
  assert float(jnp.abs(contributions).max()) < 1e-5 * scale
  assert float(jnp.abs(end_to_end).max()) < 1e-5 * scale
  # Gruver's bilinear translation reflects at the border, which a circular convolution does
  # not: there the convolutions have their own Lie derivative (the generators differ).
  contributions, _ = _layerwise(model, variables, inputs, translation="bilinear")
  assert float(jnp.abs(contributions[:, 0]).max()) > 1e-3 * scale


@pytest.mark.slow
def test_contributions_start_at_the_first_relu_and_sum_to_the_end_to_end_value():
  model, variables, inputs = _setup(relu=True)
  names, _ = lie_layerwise.unit_names(model, variables)
  for translation in ("fourier", "bilinear"):
    contributions, end_to_end = _layerwise(model, variables, inputs, translation=translation)
    size = np.abs(np.asarray(contributions)).max(axis=(0, 2))  # per unit
    first_relu = names.index("act1")
    total = float(jnp.abs(end_to_end).max())
    assert total > 1e-3
    if translation == "fourier":  # circular convs and norms commute with the Fourier shift
      assert np.all(size[:first_relu] < 1e-6 * total), (names, size)
    assert size[first_relu] > 1e-2 * total
    residual = float(jnp.abs(contributions.sum(1) - end_to_end).max())
    assert residual < 1e-5 * total, (translation, residual, total)


@pytest.mark.slow
def test_a_contribution_is_the_jvp_of_the_units_own_lie_derivative_to_the_output():
  """The VJP route equals injecting L(act1) at act1's output and pushing it forward."""
  model, variables, inputs = _setup(relu=True)
  names, _ = lie_layerwise.unit_names(model, variables)
  contributions, _ = _layerwise(model, variables, inputs)
  index = names.index("act1")
  translate = lie_layerwise.exact_at_zero(translations.TRANSLATIONS.get("fourier"))
  probe = lie_layerwise._Units(translate, 2)  # pylint: disable=protected-access
  lie_layerwise._network(model, variables, inputs, probe, lambda y: y)  # pylint: disable=protected-access
  zeros = tuple(jnp.zeros(shape) for shape in probe.shapes)
  tangents = tuple(lie if k == index else zero
                   for k, (lie, zero) in enumerate(zip(probe.lie, zeros)))

  def network(injections):
    units = lie_layerwise._Units(translate, 2, injections)  # pylint: disable=protected-access
    return lie_layerwise._network(model, variables, inputs, units, lambda y: y)  # pylint: disable=protected-access

  _, pushed = jax.jvp(network, (zeros,), (tangents,))
  np.testing.assert_allclose(pushed, contributions[:, index], rtol=1e-4,
                             atol=1e-6 * float(jnp.abs(pushed).max()))


def test_bad_options_and_models_without_a_decomposition_fail_listing_names():
  import ml_collections  # pylint: disable=g-import-not-at-top
  import models  # pylint: disable=g-import-not-at-top
  from common.errors import ConfigError  # pylint: disable=g-import-not-at-top
  from common.registry import UnknownNameError  # pylint: disable=g-import-not-at-top
  section = ml_collections.ConfigDict(dict(translation="affine", output="logits"))
  with pytest.raises(UnknownNameError, match="bilinear"):
    lie_layerwise.check(section, [])
  section.translation, section.output = "bilinear", "softmax"
  with pytest.raises(UnknownNameError, match="probabilities"):
    lie_layerwise.check(section, [])
  with pytest.raises(ConfigError, match="StrideDownsampler"):
    lie_layerwise.check_decomposable(models.build_model("alexnet", downsample="aps"))
  lie_layerwise.check_decomposable(models.build_model("resnet20", downsample="blurpool"))
