"""Tests for the alias-free convnet (Michaeli, Michaeli & Soudry, CVPR 2023): models/afc.py,
models.afc_options, the 'ideal_pool' strategy and the residual-block options it needs.

The headline property: built with models.afc_options, resnet20, resnet18 and alexnet (width
4) change their logits by at most 1e-5 of their scale under integer AND half-pixel circular
shifts of raw (not band-limited) 32 x 32 images, with random weights and after a few steps
of the real training loop; the same networks with plain stride do not. Measured (printed by
`python -m pytest -q tests/test_afc.py -s`):
  random weights   integer / half-pixel 5.9e-7 / 2.6e-6 (resnet20), 9.3e-7 / 2.0e-6
                   (resnet18), 2.3e-7 / 2.3e-7 (alexnet); asserted <= 1e-5.
  trained 3 steps  resnet20 2.2e-7 / 2.2e-7; asserted <= 1e-5.
  stride twin      resnet20 integer / half-pixel 0.95 / 0.65; asserted > 1e-2.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common.fourier import fourier_shift
from models import afc_options, build_model
from models import layers as layers_module
from models.afc import AFC_POLY_INIT, AFCPolyActivation
from models.alias_free import (band_limit, ideal_downsample, ideal_resize, on_doubled_grid,
                               resampling_matrix)
from models.random_weights import (calibrate_batch_stats, logits_by_group, random_variables,
                                   scale_residual_branches)
from runtime import checkpointing

SIZE = 32  # raw CIFAR-sized inputs
INTEGER_SHIFTS = [(0, 0), (1, 0), (0, 1), (1, 1), (5, 30), (16, 16), (31, 7)]
HALF_SHIFTS = [(0.5, 0.0), (0.0, 0.5), (0.5, 0.5), (3.5, 10.5), (-0.5, 17.5)]
BOUND = 1e-5
MODEL_OPTIONS = {
    "resnet20": dict(width=4),
    "resnet18": dict(width=4),
    "alexnet": dict(width=4, hidden_units=(16,)),
}


def random_maps(seed: int, shape) -> jnp.ndarray:
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def relative_change(logits: np.ndarray) -> float:
  """max |logits[s] - logits[0]| / max |logits[0]| over the leading (shift) axis."""
  return float(np.max(np.abs(logits - logits[0])) / np.max(np.abs(logits[0])))


def shift_changes(model, variables, images: jnp.ndarray) -> dict[str, float]:
  """Relative logit changes under INTEGER_SHIFTS (rolls) and HALF_SHIFTS (Fourier shifts) of
  the raw `images`; asserts the logits are finite and differ between the images (so that
  a constant network cannot pass)."""
  logits = logits_by_group(model, variables, {  # (np.roll: jnp.roll compiles per shift)
      "integer": [np.roll(np.asarray(images), s, axis=(1, 2)) for s in INTEGER_SHIFTS],
      "half_pixel": [images] + [fourier_shift(images, s, (1, 2)) for s in HALF_SHIFTS]})
  for part in logits.values():
    assert np.all(np.isfinite(part))
  first = logits["integer"][0]
  assert np.max(np.abs(first[0] - first[1])) > 1e-2 * np.max(np.abs(first))  # not vacuous
  return {key: relative_change(part) for key, part in logits.items()}


# Random weights put the scale of each residual branch's last norm (zero_init_residual
# starts it at 0) at this fraction of the others (models.random_weights.
# scale_residual_branches): every branch contributes, as after some training. At full scale
# (random scales near 1) the polynomial branches of resnet20 square rare large values block
# after block (activations up to 1e3 at width 4), and float rounding, amplified about 2x per
# block, moves the logits by 3e-3.
BRANCH_SCALE = 0.3


@functools.lru_cache(maxsize=None)
def random_weight_changes(name: str, downsample: str) -> dict[str, float]:
  """shift_changes of model `name` built with afc_options (downsample overridden), random
  weights (BRANCH_SCALE for residual branches), BatchNorm statistics measured on the two
  test images and 14 others (a polynomial network with random running statistics overflows:
  models.random_weights; measured on the two test images alone, a few 4 x 4 channels of
  resnet18 get a tiny variance, whose normalisation amplifies float rounding to 1.5e-4)."""
  options = {**afc_options(name), "downsample": downsample}
  model = build_model(name, **options, **MODEL_OPTIONS[name])
  variables = random_variables(model)
  if options.get("zero_init_residual"):
    variables = scale_residual_branches(variables, BRANCH_SCALE)
  images = random_maps(0, (2, SIZE, SIZE, 3))
  calibration = jnp.concatenate([images, random_maps(1, (14, SIZE, SIZE, 3))])
  # (Compiled as one program: dispatched op by op, the AFC networks' train-mode pass compiled
  # each primitive alone, about 1.5 times the CPU time.)
  variables = jax.jit(calibrate_batch_stats, static_argnums=0)(model, variables, calibration)
  changes = shift_changes(model, variables, images)
  print(f"{name} {downsample} afc_poly: " + ", ".join(f"{k} {v:.2e}" for k, v in changes.items()))
  return changes


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODEL_OPTIONS))
def test_afc_networks_are_invariant_to_integer_and_half_pixel_shifts_of_raw_images(name):
  changes = random_weight_changes(name, "ideal_pool")
  assert changes["integer"] <= BOUND and changes["half_pixel"] <= BOUND


@pytest.mark.slow
def test_the_strided_twin_is_not_invariant():
  assert random_weight_changes("resnet20", "stride")["integer"] > 1e-2


@pytest.mark.slow
def test_afc_resnet_is_invariant_after_a_few_steps_of_the_real_training_loop(tmp_path, tiny):
  """Three steps of train_and_evaluate (synthetic data), then the saved checkpoint: the
  trained coefficients, scales and BatchNorm statistics keep the invariance."""
  from pipeline.train_then_evaluate import train_and_evaluate  # pylint: disable=g-import-not-at-top
  tiny.model.name = "resnet20"
  tiny.model.width = 4
  tiny.model.update(afc_options("resnet20"))
  tiny.train.num_steps = 3
  tiny.train.checkpoint_every_steps = 3
  tiny.train.log_every_steps = 3
  tiny.train.learning_rate = 0.1
  train_and_evaluate(tiny, str(tmp_path))
  tree, step = checkpointing.load_latest(str(tmp_path))
  assert step == 3
  model = build_model(**tiny.model)
  variables = {"params": tree["params"], "batch_stats": tree["batch_stats"]}
  quadratic = tree["params"]["stage1_block1"]["act1"]["quadratic"]
  assert np.max(np.abs(quadratic - AFC_POLY_INIT[2])) > 0  # the activation was trained
  changes = shift_changes(model, variables, random_maps(0, (2, SIZE, SIZE, 3)))
  print(f"resnet20 afc after 3 steps: {changes}")
  assert changes["integer"] <= BOUND and changes["half_pixel"] <= BOUND


# ----------------------------------------------------------------------------------------
# The activation.

def apply_activation(x, **fields):
  module = AFCPolyActivation(**fields)
  variables = module.init(jax.random.PRNGKey(0), x)
  return module.apply(variables, x), variables["params"]


def test_activation_parameters_and_their_initial_values():
  x = random_maps(1, (2, 8, 8, 5))
  _, params = apply_activation(x)
  assert {name: params[name].shape for name in params} == {
      "constant": (5,), "linear": (5,), "quadratic": (5,), "in_scale": (), "out_scale": ()}
  for name, value in zip(("constant", "linear", "quadratic"), AFC_POLY_INIT):
    np.testing.assert_allclose(params[name], value)
  # 0- and 1-D: training/optim.py's weight decay (kernels only, ndim > 1) leaves them alone.
  assert all(np.ndim(p) <= 1 for p in params.values())


def test_activation_is_the_polynomial_on_the_doubled_grid_of_the_band_limited_input():
  """The term-by-term implementation equals the definition: out_scale * p(in_scale * u)
  evaluated on the x2 upsampling of band_limit(x), ideally low-passed back."""
  x = random_maps(2, (2, 8, 10, 3))
  module = AFCPolyActivation()
  params = {"constant": jnp.array([0.1, -0.2, 0.3]), "linear": jnp.array([0.5, 1.0, -0.7]),
            "quadratic": jnp.array([0.3, -0.1, 0.05]), "in_scale": jnp.array(1.3),
            "out_scale": jnp.array(0.8)}
  y = module.apply({"params": params}, x)

  def polynomial(u):
    u = params["in_scale"] * u
    return params["out_scale"] * (params["constant"] + params["linear"] * u
                                  + params["quadratic"] * u**2)

  np.testing.assert_allclose(y, on_doubled_grid(polynomial, band_limit(x)), atol=1e-5)
  assert float(jnp.max(jnp.abs(y - on_doubled_grid(polynomial, x)))) > 1e-3  # Nyquist mattered


def test_activation_commutes_with_half_pixel_shifts_of_raw_maps():
  x = random_maps(3, (2, 16, 16, 4))
  y, _ = apply_activation(x)
  for shift in HALF_SHIFTS:
    shifted, _ = apply_activation(fourier_shift(x, shift, (1, 2)))
    np.testing.assert_allclose(shifted, fourier_shift(y, shift, (1, 2)), atol=1e-5)


def test_activation_gradients_reach_every_parameter():
  x = random_maps(4, (2, 8, 8, 3))
  module = AFCPolyActivation()
  params = module.init(jax.random.PRNGKey(0), x)["params"]
  grads = jax.grad(lambda p: jnp.sum(module.apply({"params": p}, x) * x))(params)
  for name, g in grads.items():
    assert np.all(np.isfinite(g)) and float(jnp.max(jnp.abs(g))) > 0, name


# ----------------------------------------------------------------------------------------
# Resampling, pooling and the residual options.

@pytest.mark.parametrize("size,new_size,drop_nyquist", [
    (16, 8, False), (8, 16, False), (7, 14, False), (9, 4, False), (8, 16, True),
    (6, 6, True), (7, 7, True)])
def test_resampling_matrix_is_the_fft_crop_or_zero_pad(size, new_size, drop_nyquist):
  x = np.random.default_rng(5).normal(size=size)
  spectrum = np.fft.fft(x)
  keep = min(size, new_size)
  out = np.zeros(new_size, complex)
  for k in range(-((keep - 1) // 2), (keep - 1) // 2 + 1):  # |k| < keep / 2
    out[k % new_size] = spectrum[k % size]
  if new_size > size and size % 2 == 0 and not drop_nyquist:  # Nyquist split over +-size/2
    out[size // 2] = out[-(size // 2)] = spectrum[size // 2] / 2
  expected = np.real(np.fft.ifft(out)) * new_size / size
  matrix = resampling_matrix(size, new_size, drop_nyquist)
  np.testing.assert_allclose(matrix @ x, expected, atol=1e-12)
  if not drop_nyquist:
    y = ideal_resize(jnp.asarray(x, jnp.float32)[None, :, None, None], (new_size, 1))
    np.testing.assert_allclose(y[0, :, 0, 0], expected, atol=1e-5)
  np.testing.assert_allclose(resampling_matrix(size, size), np.eye(size), atol=1e-12)


@pytest.mark.slow
def test_ideal_pool_replaces_pooling_by_the_ideal_low_pass_and_is_ideal_on_resnets():
  x = random_maps(6, (2, 16, 16, 3))
  alexnet = build_model("alexnet", downsample="ideal_pool", padding="circular", width=4,
                        hidden_units=(8,))
  variables = random_variables(alexnet, (16, 16, 3))
  _, state = alexnet.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
  norm1 = state["intermediates"]["norm1"]["__call__"][0]
  conv2_in = ideal_downsample(jax.nn.relu(norm1), 2)  # what conv2 must see
  conv2 = nn.Conv(4, (5, 5), padding="CIRCULAR", use_bias=False)
  np.testing.assert_allclose(
      conv2.apply({"params": variables["params"]["conv2"]}, conv2_in),
      state["intermediates"]["conv2"]["__call__"][0], atol=1e-4)
  resnets = [build_model("resnet20", downsample=d, padding="circular", width=4)
             for d in ("ideal", "ideal_pool")]
  variables = random_variables(resnets[0], (16, 16, 3))
  # (One compiled program for both: dispatched op by op, the resnets cost about twice the CPU.)
  np.testing.assert_array_equal(
      *jax.jit(lambda v, x: [m.apply(v, x) for m in resnets])(variables, x))


@pytest.mark.slow
def test_residual_options_start_every_block_as_its_shortcut():
  """activation_after_sum=False and zero_init_residual=True: at initialisation each block
  adds nonlinearity(norm shift = 0) to its input, which for a ReLU is nothing."""
  model = build_model("resnet20", width=4, activation_after_sum=False, zero_init_residual=True)
  x = random_maps(7, (2, 8, 8, 3))
  variables, layers = _init_and_capture(model, jax.random.PRNGKey(0), x)
  params = variables["params"]
  assert float(jnp.max(jnp.abs(params["stage1_block1"]["norm2"]["scale"]))) == 0
  for other in (params["stage1_block1"]["norm1"], params["stage2_block1"]["norm_shortcut"]):
    assert float(jnp.min(other["scale"])) == 1.0  # only each branch's last norm starts at 0
  stem = jax.nn.relu(layers["stem_norm"]["__call__"][0])
  for block in ("stage1_block1", "stage1_block2", "stage1_block3"):
    np.testing.assert_allclose(layers[block]["__call__"][0], stem, atol=1e-6)
  for zero_scale, expected in ((False, 1.0), (True, 0.0)):  # the norm factory's switch
    norm = _Norm(zero_scale)
    np.testing.assert_array_equal(norm.init(jax.random.PRNGKey(0), x)["params"]["n"]["scale"],
                                  expected)


class _Norm(nn.Module):
  zero_scale: bool

  @nn.compact
  def __call__(self, x):
    return layers_module.NORMS.get("batch").make(dtype="float32", name="n",
                                                zero_scale=self.zero_scale)(x, False)


def _init_and_capture(model, key, x):
  """(variables of model.init, the 'intermediates' of one evaluation-mode pass on x)."""
  variables = model.init(key, x)
  _, state = model.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
  return variables, state["intermediates"]


@pytest.mark.parametrize("options", [dict(zero_init_residual=True, norm="none"),
                                     dict(activation_after_sum="no"),
                                     dict(zero_init_residual=1)])
def test_impossible_residual_options_fail_when_the_model_is_built(options):
  with pytest.raises(ValueError):
    build_model("resnet20", **options)


def test_afc_options_only_give_a_model_the_options_it_has():
  assert afc_options("resnet20") == dict(padding="circular", downsample="ideal_pool",
                                         nonlinearity="afc_poly", activation_after_sum=False,
                                         zero_init_residual=True)
  assert afc_options("alexnet") == dict(padding="circular", downsample="ideal_pool",
                                        nonlinearity="afc_poly")


def test_scale_residual_branches_scales_only_the_last_norm_of_each_branch():
  resnet = random_variables(build_model("resnet20", width=4), (8, 8, 3))
  scaled = scale_residual_branches(resnet, 0.25)
  for name, block in resnet["params"].items():
    for layer, leaves in block.items():
      for leaf, value in leaves.items() if isinstance(leaves, dict) else ():
        factor = 0.25 if (name.startswith("stage") and layer == "norm2" and leaf == "scale") else 1
        np.testing.assert_allclose(scaled["params"][name][layer][leaf], factor * value)
  alexnet = random_variables(build_model("alexnet", width=4, hidden_units=(8,)), (8, 8, 3))
  jax.tree.map(np.testing.assert_array_equal, scale_residual_branches(alexnet, 0.25), alexnet)
