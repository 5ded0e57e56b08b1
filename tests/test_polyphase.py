"""Tests for APS / LPS polyphase downsampling, the ideal-low-pass layers and the LPS temperature.

The headline property (issue 9): with circular padding, 'aps' and 'lps' (evaluation) of
resnet20, resnet18 and alexnet (random weights) give the same top-1 for EVERY circular shift
of random 8 x 8 inputs (all 64 shifts, with two or three stride-2 subsamplings inside), the
upsampled-ReLU variant ('ideal' + alias_free_relu, StyleGAN3-style) for 36 shifts of
16 x 16 inputs (see ALIAS_FREE_SHIFTS), with logits equal within the bounds below; 'stride'
does not. (The alias-free convnet of Michaeli et al., 'afc', is tested in tests/test_afc.py.)

Bounds (max |logits(shift) - logits| / max |logits|, float32, measured on a 2-core CPU with
`python -m pytest -q tests/test_polyphase.py -s`, which prints them):
  aps, lps      exact up to float rounding: measured <= 1.4e-7, asserted <= 1e-5; all-zero
                and constant images (ties): 0.
  upsampled ReLU integer shifts are exact through the first subsampling stage only (the ReLU
                aliases deeper down; max-pooling is not alias-free): measured 6.6e-4
                (resnet20), 1.3e-3 (resnet18), 6.7e-2 (alexnet); half-pixel shifts of
                band-limited images 1.6e-3, 1.3e-3, 6.6e-2; asserted <= 1e-2, 1e-2, 1e-1.
  'ideal' with the fixed polynomial activation (alias_free_poly; BatchNorm statistics
                calibrated on random images, see test_alias_free_poly_...): exact up to
                float rounding for integer shifts and half-pixel shifts of band-limited
                images: measured 2.4e-7 / 2.1e-7 (resnet20), 1.1e-6 / 1.8e-6 (resnet18);
                asserted <= 1e-5.
  stride        measured 0.33 (alexnet), 0.36 (resnet20), 1.02 (resnet18); asserted > 1e-2.
  aps, lps under half-pixel shifts: measured 0.05 - 0.47 (not invariant; asserted > 1e-2
                for resnet20 aps).
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from common.fourier import fourier_shift
from common.registry import UnknownNameError
from configs import default as default_config
from models import build_model, uses_temperature
from models.alias_free import (RELU_POLY, alias_free_poly, alias_free_relu, band_limit,
                               ideal_downsample, relu_poly)
from models.downsample import build_downsampler
from models.polyphase import (GumbelSoftmaxWeights, aps_index, lps_index, pad_to_multiple,
                              polyphase_components, take_component)
from models.random_weights import calibrate_batch_stats, logits_by_group, random_variables
from training.state import TrainState
from training.steps import make_update_fn
from training.temperature import build_temperature_schedule, check_temperature_config

SIZE = 8  # input side for aps, lps, stride: every one of the SIZE**2 circular shifts
ALL_SHIFTS = [(dy, dx) for dy in range(SIZE) for dx in range(SIZE)]
# Alias-free models run on 16 x 16 inputs (at 8 x 8 their deepest maps are 2 x 2, where the
# ideal low-pass keeps only the mean, which would make the test vacuous): 36 shifts, every
# combination of 0, 1, 2, 5, 8 and 15 (= -1) pixels, odd and even, in both axes.
ALIAS_FREE_SIZE = 16
ALIAS_FREE_SHIFTS = [(dy, dx) for dy in (0, 1, 2, 5, 8, 15) for dx in (0, 1, 2, 5, 8, 15)]
HALF_SHIFTS = [(0.5, 0.0), (0.0, 0.5), (0.5, 0.5), (2.5, 5.5)]  # fractional, via phase ramp
MODEL_OPTIONS = {
    "resnet20": dict(width=4),
    "resnet18": dict(width=4),
    "alexnet": dict(width=8, hidden_units=(16,)),
}
VARIANTS = {  # name -> options; (integer-shift bound, relative to the logit scale)
    "aps": (dict(downsample="aps", blur_size=3), 1e-5),
    "lps": (dict(downsample="lps", blur_size=1), 1e-5),
    "upsampled_relu": (dict(downsample="ideal", nonlinearity="alias_free_relu"), None),
    "stride": (dict(downsample="stride"), None),
}
ALIAS_FREE_BOUND = {"resnet20": 1e-2, "resnet18": 1e-2, "alexnet": 1e-1}


def random_maps(seed: int, shape) -> jnp.ndarray:
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


# ----------------------------------------------------------------------------------------
# The headline: exact invariance to every circular shift with subsampling inside.

def relative_change(logits: np.ndarray) -> float:
  """max |logits[s] - logits[0]| / max |logits[0]| over the leading (shift) axis."""
  return float(np.max(np.abs(logits - logits[0])) / np.max(np.abs(logits[0])))


@functools.lru_cache(maxsize=None)
def shift_changes(name: str, variant: str) -> dict[str, float]:
  """Relative logit changes of a model with random weights, one jit compile per model.

  Keys: 'integer' (circular shifts), 'same_top1' (1.0 if top-1 is the same for every one),
  'half_pixel' (HALF_SHIFTS of band-limited images), 'flat' (all-zero and constant images
  under 9 integer shifts).
  """
  options, _ = VARIANTS[variant]
  size, shifts = ((ALIAS_FREE_SIZE, ALIAS_FREE_SHIFTS) if variant == "upsampled_relu"
                  else (SIZE, ALL_SHIFTS))
  model = build_model(name, padding="circular", **MODEL_OPTIONS[name], **options)
  variables = random_variables(model)
  x = random_maps(0, (2, size, size, 3))
  x_smooth = band_limit(random_maps(1, (2, size, size, 3)))
  flat = jnp.stack([jnp.zeros((size, size, 3)), jnp.full((size, size, 3), 0.7)])
  # (np.roll on the host: jnp.roll compiles one program per shift, 64 of them here.)
  x, flat = np.asarray(x), np.asarray(flat)
  parts = {
      "integer": [np.roll(x, s, axis=(1, 2)) for s in shifts],
      "half_pixel": [x_smooth] + [fourier_shift(x_smooth, s, (1, 2)) for s in HALF_SHIFTS],
      "flat": [np.roll(flat, s, axis=(1, 2)) for s in shifts[:9]],
  }
  result = {}
  for key, part in logits_by_group(model, variables, parts).items():
    if key == "integer":
      scale = np.max(np.abs(part[0]))
      assert np.max(np.abs(part[0, 0] - part[0, 1])) > 1e-2 * scale > 0  # not vacuous
      result["same_top1"] = float(np.all(part.argmax(-1) == part[0].argmax(-1)))
    result[key] = relative_change(part)
  print(f"{name} {variant}: " + ", ".join(f"{k} {v:.2e}" for k, v in result.items()))
  return result


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["aps", "lps"])
@pytest.mark.parametrize("name", sorted(MODEL_OPTIONS))
def test_polyphase_models_are_exactly_invariant_to_every_circular_shift(name, variant):
  changes = shift_changes(name, variant)
  assert changes["same_top1"] == 1.0 and changes["integer"] <= VARIANTS[variant][1]
  # All-zero and constant images (every APS/LPS choice ties) give identical logits too.
  assert changes["flat"] <= VARIANTS[variant][1]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODEL_OPTIONS))
def test_upsampled_relu_models_are_nearly_invariant_to_integer_and_half_pixel_shifts(name):
  changes = shift_changes(name, "upsampled_relu")
  assert changes["same_top1"] == 1.0 and changes["integer"] <= ALIAS_FREE_BOUND[name]
  assert changes["half_pixel"] <= ALIAS_FREE_BOUND[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet20", "resnet18"])
def test_alias_free_poly_resnets_are_exactly_invariant_to_integer_and_half_pixel_shifts(name):
  """With the degree-2 polynomial on the x2 grid nothing aliases (models/alias_free.py), so
  the ideal-downsampling ResNets are invariant up to float rounding to integer shifts and to
  sub-pixel shifts of band-limited inputs; the same polynomial network with plain stride is
  not. (Raw inputs: its stem squares their Nyquist content, which models/afc.py drops.
  AlexNet is left out: its max-pools are not alias-free.) BatchNorm statistics are
  calibrated on other random images: a polynomial network with random running statistics
  overflows."""
  changes = {}
  for downsample in ("ideal", "stride"):
    model = build_model(name, padding="circular", downsample=downsample,
                        nonlinearity="alias_free_poly", **MODEL_OPTIONS[name])
    variables = jax.jit(calibrate_batch_stats, static_argnums=0)(  # one program, not op by op
        model, random_variables(model), random_maps(5, (8, ALIAS_FREE_SIZE, ALIAS_FREE_SIZE, 3)))
    x = random_maps(0, (2, ALIAS_FREE_SIZE, ALIAS_FREE_SIZE, 3))
    x_smooth = band_limit(random_maps(1, (2, ALIAS_FREE_SIZE, ALIAS_FREE_SIZE, 3)))
    logits = logits_by_group(model, variables, {
        "integer": [np.roll(np.asarray(x), s, axis=(1, 2)) for s in ALIAS_FREE_SHIFTS],
        "half_pixel": [x_smooth] + [fourier_shift(x_smooth, s, (1, 2)) for s in HALF_SHIFTS]})
    assert np.all(np.isfinite(logits["integer"])) and np.all(np.isfinite(logits["half_pixel"]))
    changes[downsample] = {key: relative_change(part) for key, part in logits.items()}
    if downsample == "ideal":
      assert np.all(logits["integer"].argmax(-1) == logits["integer"][0].argmax(-1))
  print(f"{name} alias_free_poly: {changes}")
  assert changes["ideal"]["integer"] <= 1e-5 and changes["ideal"]["half_pixel"] <= 1e-5
  assert changes["stride"]["integer"] > 100 * changes["ideal"]["integer"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODEL_OPTIONS))
def test_the_same_models_with_plain_stride_are_not_invariant(name):
  assert shift_changes(name, "stride")["integer"] > 1e-2


def test_aps_is_not_invariant_to_half_pixel_shifts():
  """A half-pixel shift is not a permutation of polyphase components: APS changes its logits
  by a similar amount as plain stride does under integer shifts (measured, printed)."""
  assert shift_changes("resnet20", "aps")["half_pixel"] > 1e-2


# ----------------------------------------------------------------------------------------
# APS selection, ties, residual alignment, odd sizes.

def test_polyphase_components_are_the_strided_slices():
  x = random_maps(2, (2, 6, 4, 3))
  components = polyphase_components(x, 2)
  for i in range(2):
    for j in range(2):
      np.testing.assert_array_equal(components[:, 2 * i + j], x[:, i::2, j::2])


@pytest.mark.parametrize("norm", ["l2", "l1", "linf"])
def test_aps_selection_commutes_with_every_circular_shift(norm):
  """For a map and its roll by (dy, dx), APS picks component ((i0 + dy) % 2, (j0 + dx) % 2)
  and returns the chosen component of the map rolled by ((i0 + dy) // 2, (j0 + dx) // 2)."""
  x = np.asarray(random_maps(3, (1, SIZE, SIZE, 5)))
  rolled = jnp.asarray(np.concatenate([np.roll(x, s, axis=(1, 2)) for s in ALL_SHIFTS]))
  index = np.asarray(aps_index(rolled, 2, norm))
  out = np.asarray(take_component(rolled, jnp.asarray(index), 2))
  i0, j0 = divmod(int(index[0]), 2)
  for n, (dy, dx) in enumerate(ALL_SHIFTS):
    assert index[n] == 2 * ((i0 + dy) % 2) + (j0 + dx) % 2
    np.testing.assert_array_equal(out[n], np.roll(out[0], ((i0 + dy) // 2, (j0 + dx) // 2),
                                                  axis=(0, 1)))


@pytest.mark.parametrize("value", [0.0, 1.5])
def test_aps_ties_pick_component_zero_and_are_shift_consistent(value):
  """All-zero and constant maps: every component ties; the choice is component 0, and since
  the components are equal maps, the output is the same for every shift."""
  rolled = jnp.full((len(ALL_SHIFTS), SIZE, SIZE, 3), value)  # every roll of a flat map
  for norm in ("l2", "l1", "linf"):
    index = aps_index(rolled, 2, norm)
    assert np.all(np.asarray(index) == 0)
    np.testing.assert_array_equal(take_component(rolled, index, 2),
                                  np.full((len(ALL_SHIFTS), SIZE // 2, SIZE // 2, 3), value))


def test_lps_exact_score_ties_follow_the_aps_norm_and_commute_with_shifts():
  """A scorer whose hidden ReLU is off everywhere gives every component the same logit; the
  choice then follows the l2 norm (APS), so it still commutes with every circular shift.
  Without a tie the scorer's argmax wins over the norm."""
  x = np.asarray(random_maps(4, (1, SIZE, SIZE, 3)))
  rolled = jnp.asarray(np.concatenate([np.roll(x, s, axis=(1, 2)) for s in ALL_SHIFTS]))
  tied = jnp.full((len(ALL_SHIFTS), 4), 0.25)
  np.testing.assert_array_equal(lps_index(tied, rolled, 2), aps_index(rolled, 2, "l2"))
  i0, j0 = divmod(int(lps_index(tied, rolled, 2)[0]), 2)
  assert [int(k) for k in lps_index(tied, rolled, 2)] == [
      2 * ((i0 + dy) % 2) + (j0 + dx) % 2 for dy, dx in ALL_SHIFTS]
  other = (2 * i0 + j0 + 1) % 4  # a component APS does not choose
  logits = jnp.zeros((1, 4)).at[0, other].set(1.0)
  assert int(lps_index(logits, rolled[:1], 2)[0]) == other


class _TwoBranches(nn.Module):
  """Both branches of a downsampling block with identity ops, through a strategy."""
  downsample: str
  blur_size: int

  @nn.compact
  def __call__(self, x, train=False, temperature=1.0):
    strategy = build_downsampler(self.downsample, blur_size=self.blur_size, padding="circular")
    identity = lambda y, stride: y
    return strategy.branches(x, identity, x, identity, 2, main_name="main",
                             shortcut_name="shortcut", train=train, temperature=temperature)


@pytest.mark.parametrize("downsample,train", [("aps", False), ("lps", False), ("lps", True)])
def test_shortcut_takes_the_same_component_as_its_main_branch(downsample, train):
  x = random_maps(4, (3, SIZE, SIZE, 4))
  module = _TwoBranches(downsample, blur_size=3)
  variables = module.init(jax.random.PRNGKey(0), x)
  main, shortcut = jax.jit(lambda v, x: module.apply(  # one program, not op by op
      v, x, train=train, temperature=0.5, rngs={"lps": jax.random.PRNGKey(1)}))(variables, x)
  assert main.shape == (3, SIZE // 2, SIZE // 2, 4)
  np.testing.assert_array_equal(main, shortcut)


def test_odd_map_sizes_are_wrap_padded_to_ceil_output():
  x = random_maps(5, (2, 5, 7, 3))
  padded = pad_to_multiple(x, 2)
  assert padded.shape == (2, 6, 8, 3)
  np.testing.assert_array_equal(padded[:, 5, :7], x[:, 0])
  np.testing.assert_array_equal(padded[:, :5, 7], x[:, :, 0])
  assert take_component(padded, aps_index(padded, 2), 2).shape == (2, 3, 4, 3)
  assert ideal_downsample(x, 2).shape == (2, 3, 4, 3)


# ----------------------------------------------------------------------------------------
# Alias-free building blocks.

def test_ideal_downsampling_turns_integer_shifts_into_exact_fourier_shifts():
  x = random_maps(6, (2, 12, 10, 3))
  y = ideal_downsample(x, 2)
  for dy, dx in [(1, 0), (0, 1), (3, 7), (5, 2)]:
    shifted = ideal_downsample(jnp.roll(x, (dy, dx), axis=(1, 2)), 2)
    np.testing.assert_allclose(shifted, fourier_shift(y, (dy / 2, dx / 2), (1, 2)), atol=2e-5)


def test_ideal_resize_keeps_constants_and_cuts_at_the_new_nyquist():
  np.testing.assert_allclose(ideal_downsample(jnp.full((1, 7, 8, 2), 3.0), 2), 3.0, rtol=1e-6)
  y = ideal_downsample(random_maps(7, (1, 16, 16, 1)), 2)
  spectrum = np.abs(np.fft.fft2(np.asarray(y)[0, :, :, 0]))
  assert spectrum[4, :].max() < 1e-4 and spectrum[:, 4].max() < 1e-4  # new Nyquist bin is 0


def test_alias_free_poly_commutes_with_half_pixel_shifts_of_band_limited_maps():
  """No aliasing: a quarter-pixel Fourier shift of a band-limited map passes through exactly,
  which alias_free_relu does only approximately (a half-pixel shift is a whole pixel of its
  x2 grid, which both pass exactly)."""
  x = band_limit(random_maps(9, (1, SIZE, SIZE, 2)))
  errors = {}
  for name, fn in (("poly", alias_free_poly), ("relu", alias_free_relu)):
    shifted_first = fn(fourier_shift(x, (0.25, 1.75), (1, 2)))
    errors[name] = float(jnp.max(jnp.abs(shifted_first - fourier_shift(fn(x), (0.25, 1.75), (1, 2)))))
  assert errors["poly"] < 1e-5 < 1e-3 < errors["relu"], errors
  np.testing.assert_allclose(relu_poly(jnp.array([0.0, 2.0])), [RELU_POLY[0], RELU_POLY[0] + 1.0 + 4 * RELU_POLY[2]], rtol=1e-6)


def test_alias_free_relu_is_shift_equivariant_and_band_limited():
  x = random_maps(8, (1, SIZE, SIZE, 2))
  y = alias_free_relu(x)
  for shift in [(1, 0), (3, 5)]:
    np.testing.assert_allclose(alias_free_relu(jnp.roll(x, shift, axis=(1, 2))),
                               jnp.roll(y, shift, axis=(1, 2)), atol=1e-5)
  spectrum = np.abs(np.fft.fft2(np.asarray(y)[0, :, :, 0]))
  assert spectrum[SIZE // 2, :].max() < 1e-4
  # Close to, but not, the pointwise ReLU.
  assert 0 < float(jnp.max(jnp.abs(y - jax.nn.relu(x)))) < float(jnp.max(jnp.abs(x)))


# ----------------------------------------------------------------------------------------
# LPS in training: differentiable, Gumbel-softmax at the scheduled temperature.

@pytest.mark.slow
def test_lps_training_mode_gives_finite_nonzero_gradients_to_the_scorer():
  """Gradients reach the scorer through the Gumbel-softmax weights of both branches."""
  assert uses_temperature(build_model("alexnet", downsample="lps"))
  assert not uses_temperature(build_model("alexnet", downsample="aps"))
  x = random_maps(9, (4, SIZE, SIZE, 4))
  target = random_maps(10, (4, SIZE // 2, SIZE // 2, 4))
  module = _TwoBranches("lps", blur_size=3)
  params = module.init(jax.random.PRNGKey(0), x)["params"]

  def loss(params):
    main, shortcut = module.apply({"params": params}, x, train=True, temperature=0.5,
                                  rngs={"lps": jax.random.PRNGKey(2)})
    return jnp.sum((main + shortcut) * target)

  grads = jax.jit(jax.grad(loss))(params)  # one program (op by op: ~100 compilations)
  leaves = jax.tree_util.tree_leaves_with_path(grads)
  assert len(leaves) == 4  # scorer conv1, conv2 x (kernel, bias)
  for path, g in leaves:
    assert bool(jnp.all(jnp.isfinite(g))), jax.tree_util.keystr(path)
    assert float(jnp.max(jnp.abs(g))) > 0, jax.tree_util.keystr(path)


def test_gumbel_softmax_weights_use_the_temperature():
  logits = jnp.array([[0.0, 1.0, 2.0, 3.0]])
  module = GumbelSoftmaxWeights()
  rngs = {"lps": jax.random.PRNGKey(3)}
  weights = [module.apply({}, logits, t, rngs=rngs) for t in (10.0, 1.0, 0.1)]
  # Same key, same noise g: log(w_3 / w_0) = (l_3 + g_3 - l_0 - g_0) / t.
  log_ratio = [float(jnp.log(w[0, 3] / w[0, 0])) for w in weights]
  np.testing.assert_allclose([r * t for r, t in zip(log_ratio, (10.0, 1.0, 0.1))],
                             log_ratio[1], rtol=1e-3)
  assert abs(log_ratio[1]) > 1e-3  # the law is not tested vacuously
  for w in weights:
    np.testing.assert_allclose(jnp.sum(w), 1.0, rtol=1e-6)


def temperature_cfg(**overrides) -> ml_collections.ConfigDict:
  cfg = ml_collections.ConfigDict(default_config.get_config().train.lps_temperature.to_dict())
  cfg.update(overrides)
  return cfg


def test_temperature_schedules_follow_their_formula():
  steps = jnp.array([0, 25, 50, 100, 400])
  exponential = build_temperature_schedule(temperature_cfg(start=1.0, end=0.01,
                                                           anneal_fraction=0.5), 200)
  np.testing.assert_allclose(exponential(steps), [1.0, 10**-0.5, 0.1, 0.01, 0.01], rtol=1e-5)
  linear = build_temperature_schedule(temperature_cfg(schedule="linear", start=2.0, end=1.0),
                                      100)
  np.testing.assert_allclose(linear(steps), [2.0, 1.75, 1.5, 1.0, 1.0], rtol=1e-6)
  constant = build_temperature_schedule(temperature_cfg(schedule="constant", start=0.3), 100)
  np.testing.assert_allclose(constant(steps), 0.3, rtol=1e-6)


@pytest.mark.parametrize("divisor, hidden", [(4, 4), (1, 16)])
def test_lps_scorer_width_follows_the_hidden_divisor(divisor, hidden):
  """Hidden width max(C // divisor, 1): C / 4 by default, C (the reference's CIFAR setting)
  with lps_hidden_divisor=1; the default model's parameters are unchanged by the option."""
  model = build_model("resnet20", width=8, downsample="lps", blur_size=1,
                      lps_hidden_divisor=divisor)
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)),
                                             train=False))
  scorer = shapes["params"]["stage2_block1"]["conv1_lps"]
  assert scorer["conv1"]["kernel"].shape == (3, 3, 16, hidden)
  assert scorer["conv2"]["kernel"].shape == (3, 3, hidden, hidden)


def test_step_decay_is_the_lps_reference_schedule():
  """x0.85 after every 10 epochs, floor 0.025 (epoch e: max(0.85 ** (e // 10), 0.025))."""
  steps_per_epoch = 7
  schedule = build_temperature_schedule(
      temperature_cfg(schedule="step_decay", start=1.0, end=0.025, decay_factor=0.85,
                      decay_every_epochs=10), 10_000, steps_per_epoch)
  epochs = np.array([0, 9, 10, 19, 20, 100, 220, 230, 500])
  expected = np.maximum(0.85 ** (epochs // 10), 0.025)
  np.testing.assert_allclose(schedule(epochs * steps_per_epoch), expected, rtol=1e-5)
  np.testing.assert_allclose(schedule(10 * steps_per_epoch - 1), 1.0)  # last step of epoch 9
  assert expected[-3] > 0.025 == expected[-2]  # the floor is reached at epoch 230


def test_a_config_written_before_the_decay_fields_still_reads():
  from training.temperature import temperature_config  # pylint: disable=g-import-not-at-top
  old = ml_collections.ConfigDict({"lps_temperature": dict(
      schedule="linear", start=2.0, end=1.0, anneal_fraction=1.0)})
  completed = temperature_config(old)
  assert completed.decay_factor == 0.85 and completed.schedule == "linear"
  np.testing.assert_allclose(build_temperature_schedule(completed, 100)(50), 1.5)


class _TemperatureProbe(nn.Module):
  """logits = w * temperature (+ 0 * Gumbel noise, so the 'lps' stream must be given)."""

  @nn.compact
  def __call__(self, x, train=False, temperature=1.0):
    w = self.param("w", nn.initializers.zeros, (3,))
    noise = jax.random.gumbel(self.make_rng("lps"), (3,)) if train else 0.0
    return jnp.broadcast_to(w * temperature + 0.0 * noise, (x.shape[0], 3))


def test_train_step_passes_the_scheduled_temperature_and_an_lps_key():
  model = _TemperatureProbe()
  variables = model.init(jax.random.PRNGKey(0), jnp.zeros((2, 1)))
  update = jax.jit(make_update_fn(model, optax.sgd(1.0), num_classes=3, label_smoothing=0.0,
                                  temperature_schedule=lambda step: 1.0 + step))
  state = TrainState.create(variables, optax.sgd(1.0))
  inputs, labels = jnp.zeros((2, 1)), jnp.array([0, 0])
  deltas = []
  for step in (0, 9):
    new = update(state.replace(step=jnp.asarray(step, jnp.int32)), inputs, labels,
                 jax.random.PRNGKey(4))
    deltas.append(float(new.params["w"][0] - state.params["w"][0]))
  # d loss / d w = temperature * (softmax - onehot): the step scales with schedule(step).
  np.testing.assert_allclose(deltas[1] / deltas[0], 10.0, rtol=1e-5)


# ----------------------------------------------------------------------------------------
# Config-time errors.

@pytest.mark.parametrize("options", [
    dict(downsample="aps", aps_norm="l3"), dict(downsample="stride", aps_norm="L2"),
    dict(nonlinearity="gelu"), dict(downsample="aps", blur_size=0),
    dict(downsample="lps", blur_size=8), dict(downsample="apss"),
    dict(downsample="lps", lps_hidden_divisor=0), dict(downsample="stride", lps_hidden_divisor=1.5),
])
@pytest.mark.parametrize("name", ["alexnet", "resnet20"])
def test_unsupported_options_fail_when_the_model_is_built(name, options):
  with pytest.raises(ValueError):
    build_model(name, **options)


@pytest.mark.parametrize("downsample", ["aps", "lps"])
def test_polyphase_strategies_refuse_strides_other_than_two(downsample):
  strategy = build_downsampler(downsample)
  strategy.check_stride(2)
  strategy.check_stride(1)
  with pytest.raises(ValueError, match="stride 2"):
    strategy.check_stride(3)
  build_downsampler("ideal").check_stride(3)  # ideal downsampling works at any stride


@pytest.mark.parametrize("overrides", [
    dict(schedule="cosine"), dict(start=0.0), dict(end=-1.0), dict(start=float("nan")),
    dict(start=0.5, end=1.0), dict(anneal_fraction=0.0), dict(anneal_fraction=1.5),
    dict(anneal_fraction=-0.5), dict(schedule="step_decay", decay_factor=0.0),
    dict(schedule="step_decay", decay_factor=1.5), dict(decay_every_epochs=0),
])
def test_impossible_temperature_schedules_fail_when_the_config_is_read(overrides):
  with pytest.raises(UnknownNameError if overrides.get("schedule") == "cosine" else ValueError):
    check_temperature_config(temperature_cfg(**overrides))


def test_default_temperature_schedule_is_valid():
  check_temperature_config(default_config.get_config().train.lps_temperature)
