"""Tests for models/: registry and options, parameter counts from architecture formulas,
exact circular-shift invariance without subsampling, BlurPool properties, dtypes."""
from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common.registry import UnknownNameError
from models import MODELS, build_model, count_params, model_options
from models.blurpool import (BlurPool, binomial_filter, depthwise_conv_blur_subsample,
                             separable_blur_subsample)
from models.downsample import DOWNSAMPLERS, Downsampler
from models.padding import BLUR_PADDINGS, pad_reflect, same_pads
from models.random_weights import random_variables

IMAGE = (32, 32, 3)
# Small widths keep CPU compile and run times low; architecture formulas are width-generic.
SMALL_WIDTH = {"alexnet": 8, "alexnet_nostride": 8, "resnet20": 4, "resnet18": 4, "resnet50": 2}
STRATEGIES = ("stride", "blurpool", "none")


def random_images(seed: int, n: int) -> jnp.ndarray:
  return jax.random.normal(jax.random.PRNGKey(seed), (n, *IMAGE), jnp.float32)


@functools.lru_cache(maxsize=None)
def small_variables(name: str):
  """Random variables of a small-width model; they are the same for every strategy."""
  return random_variables(build_model(name, width=SMALL_WIDTH[name],
                                      downsample=model_options(name)["downsample"]))


def blur_pool_fn(**options):
  """BlurPool(**options) as one compiled program per input shape (dispatched op by op, each
  primitive compiled alone: about 3 times the CPU time in these many small tests)."""
  return jax.jit(lambda x: BlurPool(**options).apply({}, x))


def apply_fn(model, train: bool = False):
  if train:
    return jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))
  return jax.jit(lambda v, x: model.apply(v, x, train=False))


# ----------------------------------------------------------------------------------------
# Parameter counts from the architecture formulas.

def conv_count(k: int, c_in: int, c_out: int, bias: bool = False) -> int:
  return k * k * c_in * c_out + (c_out if bias else 0)


def bn_count(c: int) -> int:
  return 2 * c  # scale and bias (running statistics are not parameters)


def dense_count(d_in: int, d_out: int) -> int:
  return d_in * d_out + d_out


def alexnet_count(width=64, num_classes=10, hidden=(384, 192), head="gap", norm="batch"):
  batch = norm == "batch"
  total = 0
  c_in = IMAGE[-1]
  for _ in range(2):
    total += conv_count(5, c_in, width, bias=not batch) + (bn_count(width) if batch else 0)
    c_in = width
  features = width if head == "gap" else 8 * 8 * width  # two stride-2 pools: 32 -> 8
  for units in (*hidden, num_classes):
    total += dense_count(features, units)
    features = units
  return total


def resnet_count(block: str, stage_sizes, width, num_classes=10):
  expansion = {"basic": 1, "bottleneck": 4}[block]
  total = conv_count(3, 3, width) + bn_count(width)
  c_in = width
  for stage, num_blocks in enumerate(stage_sizes):
    f = width * 2**stage
    c_out = f * expansion
    for index in range(num_blocks):
      if block == "basic":
        total += conv_count(3, c_in, f) + bn_count(f) + conv_count(3, f, f) + bn_count(f)
      else:
        total += (conv_count(1, c_in, f) + bn_count(f) + conv_count(3, f, f) + bn_count(f)
                  + conv_count(1, f, c_out) + bn_count(c_out))
      strided = stage > 0 and index == 0
      if strided or c_in != c_out:
        total += conv_count(1, c_in, c_out) + bn_count(c_out)
      c_in = c_out
  return total + dense_count(c_in, num_classes)


def afvit_count(width=192, patch_size=4, depth=12, num_heads=4, mlp_ratio=4.0,
                num_classes=10):
  """models/afvit.py: stem, depth XCiT blocks, head; every LayerNorm has a scale and a bias
  per channel, every afc_poly activation 3 per channel + 2 scales."""
  hidden = round(width * mlp_ratio)
  afc_poly = lambda c: 3 * c + 2
  stem = (conv_count(3, 3, width, bias=True) + bn_count(width) + afc_poly(width)
          + conv_count(patch_size, width, width, bias=True))
  xca = dense_count(width, 3 * width) + num_heads + dense_count(width, width)
  lpi = 2 * (9 * width + width) + afc_poly(width)
  mlp = dense_count(width, hidden) + afc_poly(hidden) + dense_count(hidden, width)
  block = 3 * bn_count(width) + 3 * width + xca + lpi + mlp  # 3 norms, 3 LayerScales
  return stem + depth * block + bn_count(width) + dense_count(width, num_classes)


EXPECTED_DEFAULT_COUNTS = {
    "alexnet": alexnet_count(),
    "alexnet_nostride": alexnet_count(),
    "resnet20": resnet_count("basic", (3, 3, 3), 16),
    "resnet18": resnet_count("basic", (2, 2, 2, 2), 64),
    "resnet50": resnet_count("bottleneck", (3, 4, 6, 3), 64),
}


def param_count(name: str, **options) -> int:
  model = build_model(name, **options)
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, *IMAGE)),
                                             train=False))
  return count_params(shapes["params"])


# Models whose formulas and properties are tested in a file of their own.
TESTED_ELSEWHERE = {"vit": "tests/test_vit.py", "cct": "tests/test_vit.py"}
# Models with their own options instead of the CNNs' (no downsample, padding, width in the
# CNNs' sense): only their counts are tested here (their properties: tests/test_afvit.py).
OWN_OPTIONS_DEFAULT_COUNTS = {"afvit": afvit_count()}


def test_every_registered_model_has_a_formula():
  assert set(MODELS.names()) == (set(EXPECTED_DEFAULT_COUNTS) | set(TESTED_ELSEWHERE)
                                 | set(OWN_OPTIONS_DEFAULT_COUNTS))


@pytest.mark.parametrize("name", sorted(OWN_OPTIONS_DEFAULT_COUNTS))
def test_default_param_count_of_models_with_their_own_options(name):
  assert param_count(name) == OWN_OPTIONS_DEFAULT_COUNTS[name]


def test_afvit_param_count_follows_its_options():
  options = dict(width=12, patch_size=3, depth=2, num_heads=3, mlp_ratio=1.5, num_classes=7)
  assert param_count("afvit", **options) == afvit_count(**options)


@pytest.mark.parametrize("name", sorted(EXPECTED_DEFAULT_COUNTS))
def test_default_param_count_matches_architecture_formula(name):
  assert param_count(name) == EXPECTED_DEFAULT_COUNTS[name]


def test_param_counts_are_in_published_ranges():
  # He et al.: ResNet-20 0.27M; CIFAR ResNet-18 11.2M; CIFAR ResNet-50 23.5M.
  assert 0.26e6 < EXPECTED_DEFAULT_COUNTS["resnet20"] < 0.28e6
  assert 11.1e6 < EXPECTED_DEFAULT_COUNTS["resnet18"] < 11.3e6
  assert 23.4e6 < EXPECTED_DEFAULT_COUNTS["resnet50"] < 23.6e6


def test_param_counts_follow_options():
  assert param_count("alexnet", width=16, num_classes=7, hidden_units=(32, 24)) == alexnet_count(
      16, 7, (32, 24))
  assert param_count("alexnet", width=16, head="flatten") == alexnet_count(16, head="flatten")
  assert param_count("alexnet", width=16, norm="none") == alexnet_count(16, norm="none")
  assert param_count("resnet20", width=8, num_classes=100) == resnet_count("basic", (3, 3, 3), 8,
                                                                            100)
  assert param_count("resnet50", width=4) == resnet_count("bottleneck", (3, 4, 6, 3), 4)


@pytest.mark.parametrize("name", sorted(EXPECTED_DEFAULT_COUNTS))
def test_antialiasing_and_no_subsampling_add_no_parameters(name):
  width = SMALL_WIDTH[name]
  counts = {param_count(name, width=width, downsample=s)
            for s in STRATEGIES if name != "alexnet_nostride" or s == "none"}
  assert len(counts) == 1


def test_count_params_counts_all_scalars():
  assert count_params({"a": jnp.zeros((2, 3)), "b": {"c": jnp.zeros(4), "d": jnp.zeros(())}}) == 11


# ----------------------------------------------------------------------------------------
# Names and options.

def test_unknown_model_name_lists_valid_names():
  with pytest.raises(UnknownNameError) as error:
    build_model("alexnett")
  for name in ("alexnet", "alexnet_nostride", "resnet18", "resnet20", "resnet50"):
    assert name in str(error.value)


def test_unknown_option_is_named_and_valid_options_listed():
  with pytest.raises(ValueError) as error:
    build_model("resnet20", depth=32)
  message = str(error.value)
  assert "depth" in message
  for option in ("num_classes", "downsample", "blur_size", "padding", "dtype", "width"):
    assert option in message


@pytest.mark.parametrize("name", sorted(EXPECTED_DEFAULT_COUNTS))
def test_every_model_accepts_the_common_options(name):
  options = model_options(name)
  for option in ("num_classes", "downsample", "blur_size", "padding", "dtype", "width"):
    assert option in options
  assert options["num_classes"] == 10 and options["blur_size"] == 3
  assert options["padding"] == "zeros" and options["dtype"] == "float32"
  assert options["blur_padding"] == "auto"


@pytest.mark.parametrize("options", [
    dict(downsample="bogus"), dict(padding="reflect"), dict(dtype="float64x"),
    dict(downsample="blurpool", blur_size=0), dict(downsample="blurpool", blur_size=8),
    dict(width=0), dict(norm="layer"), dict(head="bogus"),
    dict(downsample="blurpool", blur_padding="symmetric"), dict(blur_padding="bogus"),
])
def test_invalid_option_values_fail_at_build_time(options):
  with pytest.raises(ValueError):
    build_model("alexnet", **options)


@pytest.mark.parametrize("options", [dict(head="flatten"), dict(downsample="stride"),
                                     dict(downsample="blurpool")])
def test_alexnet_nostride_rejects_subsampling_and_flatten(options):
  with pytest.raises(ValueError):
    build_model("alexnet_nostride", **options)


def test_downsampling_strategies_registered():
  assert set(STRATEGIES) <= set(DOWNSAMPLERS.names())


# ----------------------------------------------------------------------------------------
# Shapes, strategies, dtypes.

@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_DEFAULT_COUNTS))
def test_every_strategy_builds_and_traces(name):
  """Shapes and dtypes for every strategy (traced only; the numeric runs follow)."""
  variables = small_variables(name)
  x = random_images(2, 3)
  for strategy in STRATEGIES:
    if name == "alexnet_nostride" and strategy != "none":
      continue
    model = build_model(name, width=SMALL_WIDTH[name], downsample=strategy)
    init_shapes = jax.eval_shape(functools.partial(model.init, train=False),
                                 jax.random.PRNGKey(0), x)
    assert jax.tree_util.tree_structure(init_shapes) == jax.tree_util.tree_structure(variables)
    logits, updates = jax.eval_shape(
        lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]), variables, x)
    assert logits.shape == (3, 10) and logits.dtype == jnp.float32
    assert jax.tree_util.tree_structure(updates["batch_stats"]) == jax.tree_util.tree_structure(
        variables["batch_stats"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet", "resnet20"])
def test_blurpool_models_run(name):
  model = build_model(name, width=SMALL_WIDTH[name], downsample="blurpool", blur_size=5)
  logits, updates = apply_fn(model, train=True)(small_variables(name), random_images(2, 3))
  assert logits.shape == (3, 10) and bool(jnp.all(jnp.isfinite(logits)))
  assert bool(jnp.all(jnp.isfinite(updates["batch_stats"]["norm1"]["mean"])) if name == "alexnet"
              else jnp.all(jnp.isfinite(updates["batch_stats"]["stem_norm"]["mean"])))


@pytest.mark.slow
def test_num_classes_sets_output_width():
  model = build_model("alexnet", width=4, num_classes=7, hidden_units=(16, 8))
  x = random_images(0, 2)
  assert apply_fn(model)(random_variables(model), x).shape == (2, 7)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet", "resnet20"])
def test_bfloat16_compute_gives_float32_logits_and_params(name):
  x = random_images(3, 2)
  variables = small_variables(name)
  logits32 = apply_fn(build_model(name, width=SMALL_WIDTH[name]))(variables, x)
  logits16 = apply_fn(build_model(name, width=SMALL_WIDTH[name], dtype="bfloat16"))(variables, x)
  assert logits16.dtype == jnp.float32
  scale = float(jnp.max(jnp.abs(logits32)))
  np.testing.assert_allclose(logits16, logits32, atol=0.1 * scale)
  init16 = jax.eval_shape(lambda: build_model(name, width=4, dtype="bfloat16").init(
      jax.random.PRNGKey(0), x, train=False))
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(init16))


@dataclasses.dataclass(frozen=True)
class OddPhaseDownsampler(Downsampler):
  """A strategy the models have never heard of: run at stride 1, keep the odd polyphase."""

  def subsample_after(self, x, op, stride, name):
    return op(x, 1)[:, stride - 1::stride, stride - 1::stride]

  def shortcut(self, x, project_op, stride, *, name):
    return project_op(x[:, stride - 1::stride, stride - 1::stride], 1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet", "resnet20"])
def test_a_new_strategy_plugs_in_without_model_changes(name):
  model = build_model(name, width=SMALL_WIDTH[name]).clone(downsampler=OddPhaseDownsampler())
  logits = apply_fn(model)(small_variables(name), random_images(4, 2))
  assert logits.shape == (2, 10)


# ----------------------------------------------------------------------------------------
# Exact invariance to circular shifts without subsampling.

SHIFTS = ((1, 0), (0, 3), (5, 7), (16, 31))


def shifted_batch(x):
  return jnp.concatenate([x] + [jnp.roll(x, s, axis=(1, 2)) for s in SHIFTS])


def max_shift_change(model, variables, x, train=False):
  """Largest |logits(shift(x)) - logits(x)| over SHIFTS, and the logit scale."""
  outputs = apply_fn(model, train)(variables, shifted_batch(x))
  logits = (outputs[0] if train else outputs).reshape(len(SHIFTS) + 1, *x.shape[:1], -1)
  scale = float(jnp.max(jnp.abs(logits[0])))
  # Guard against a vacuous pass: different images must get logits that differ by far more
  # than the invariance tolerance (1e-4 * scale).
  assert float(jnp.max(jnp.abs(logits[0, 0] - logits[0, 1]))) > 1e-3 * scale > 0
  return float(jnp.max(jnp.abs(logits[1:] - logits[0]))), scale


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_DEFAULT_COUNTS))
def test_no_subsampling_with_circular_padding_is_shift_invariant(name):
  model = build_model(name, width=SMALL_WIDTH[name], downsample="none", padding="circular")
  change, scale = max_shift_change(model, small_variables(name), random_images(5, 2))
  assert change <= 1e-4 * scale


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet_nostride", "resnet20"])
def test_shift_invariance_holds_with_batch_statistics(name):
  model = build_model(name, width=SMALL_WIDTH[name], downsample="none", padding="circular")
  change, scale = max_shift_change(model, small_variables(name), random_images(6, 2), train=True)
  assert change <= 1e-4 * scale


def test_zero_padding_breaks_exact_invariance():
  model = build_model("alexnet_nostride", width=SMALL_WIDTH["alexnet_nostride"])
  change, scale = max_shift_change(model, small_variables("alexnet_nostride"),
                                   random_images(5, 2))
  assert change > 1e-3 * scale


# ----------------------------------------------------------------------------------------
# Binomial filters and BlurPool.

@pytest.mark.parametrize("size", range(1, 8))
def test_binomial_filter_is_normalised_binomial_row(size):
  row = binomial_filter(size)
  expected = [math.comb(size - 1, k) / 2**(size - 1) for k in range(size)]
  np.testing.assert_allclose(row, expected, rtol=0, atol=1e-12)
  assert abs(row.sum() - 1) < 1e-12


def test_binomial_filter_size_3():
  np.testing.assert_allclose(binomial_filter(3), [0.25, 0.5, 0.25])


@pytest.mark.parametrize("size", [0, 8, -1, 2.5, True])
def test_invalid_blur_size_raises(size):
  with pytest.raises(ValueError):
    binomial_filter(size)
  with pytest.raises(ValueError):
    BlurPool(size=size).apply({}, jnp.zeros((1, 4, 4, 1)))


@pytest.mark.slow
@pytest.mark.parametrize("size", range(1, 8))
def test_blurpool_kernel_is_outer_product_of_binomial_rows(size):
  impulse = jnp.zeros((1, 9, 9, 2)).at[0, 4, 4, :].set(1.0)
  response = blur_pool_fn(size=size, stride=1)(impulse)
  start = 4 - size // 2  # the after-pad, ceil((size - 1) / 2)
  expected = np.outer(binomial_filter(size), binomial_filter(size))[::-1, ::-1]
  window = response[0, start:start + size, start:start + size]
  for channel in range(2):
    np.testing.assert_allclose(window[..., channel], expected, atol=1e-6)
  np.testing.assert_allclose(response.sum(axis=(1, 2)), 1.0, atol=1e-5)


@pytest.mark.parametrize("size", range(1, 8))
def test_blurpool_commutes_with_circular_shifts_by_its_stride(size):
  x = random_images(7, 2)[:, :16, :16]
  pool = blur_pool_fn(size=size, stride=2, padding="circular")
  out = pool(x)
  for shift in ((2, 0), (0, 2), (4, 6), (-2, 2)):
    shifted_out = pool(jnp.roll(x, shift, axis=(1, 2)))
    expected = jnp.roll(out, (shift[0] // 2, shift[1] // 2), axis=(1, 2))
    np.testing.assert_allclose(shifted_out, expected, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("padding", ["zeros", "circular"])
@pytest.mark.parametrize("map_size", [2, 4])
@pytest.mark.parametrize("size", range(1, 8))
def test_blurpool_handles_tiny_maps(size, map_size, padding):
  x = jax.random.normal(jax.random.PRNGKey(size), (2, map_size, map_size, 3))
  pool = blur_pool_fn(size=size, stride=2, padding=padding)
  out = pool(x)
  assert out.shape == (2, map_size // 2, map_size // 2, 3)
  assert bool(jnp.all(jnp.isfinite(out)))
  ones = pool(jnp.ones((1, map_size, map_size, 1)))
  if padding == "circular":  # a constant map stays constant on the torus
    np.testing.assert_allclose(ones, 1.0, atol=1e-6)
  else:  # zero padding only ever removes mass
    assert bool(jnp.all(ones <= 1.0 + 1e-6)) and bool(jnp.all(ones > 0))


def test_blurpool_output_size_is_ceil_of_input_over_stride():
  out = BlurPool(size=4, stride=2).apply({}, jnp.zeros((1, 7, 5, 2)))
  assert out.shape == (1, 4, 3, 2)


def test_blurpool_keeps_dtype():
  out = BlurPool(size=3).apply({}, jnp.ones((1, 4, 4, 2), jnp.bfloat16))
  assert out.dtype == jnp.bfloat16


@pytest.mark.slow
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("size", range(1, 8))
def test_separable_blur_equals_depthwise_convolution(size, stride):
  x = jax.random.normal(jax.random.PRNGKey(size), (2, 13, 10, 3))
  row = binomial_filter(size)
  both = jax.jit(lambda x: (separable_blur_subsample(x, row, stride),
                            depthwise_conv_blur_subsample(x, row, stride)))  # one program
  np.testing.assert_allclose(*both(x), atol=1e-5)


# ----------------------------------------------------------------------------------------
# Padding of the blur (option blur_padding) and blur_size 1.

def test_unknown_blur_padding_lists_valid_names():
  with pytest.raises(UnknownNameError) as error:
    build_model("resnet20", downsample="blurpool", blur_padding="reflection")
  for name in ("auto", "reflect", "zeros", "circular"):
    assert name in str(error.value)
  with pytest.raises(UnknownNameError):
    BlurPool(size=1, padding="bogus").apply({}, jnp.zeros((1, 4, 4, 1)))


@pytest.mark.parametrize("padding, blur_padding, resolved", [
    ("zeros", "auto", "reflect"), ("circular", "auto", "circular"),
    ("zeros", "zeros", "zeros"), ("circular", "reflect", "reflect"),
    ("zeros", "circular", "circular"),
])
def test_blur_padding_auto_follows_the_model_padding(padding, blur_padding, resolved):
  for name in ("alexnet", "resnet20"):
    model = build_model(name, downsample="blurpool", padding=padding, blur_padding=blur_padding)
    assert model.downsampler.blur_padding == resolved


@pytest.mark.slow
def test_reflect_padding_is_numpy_reflect_for_every_pad():
  """Map sizes 1..8, also for pads >= the map size, where numpy repeats the reflection."""
  rng = np.random.default_rng(11)
  maps = [rng.normal(size=(1, n, n + 1, 2)).astype(np.float32) for n in range(1, 9)]
  all_pads = [same_pads(size) for size in range(1, 8)] + [((9, 4), (0, 7))]
  padded = jax.jit(lambda maps: [[pad_reflect(x, pads) for pads in all_pads] for x in maps])(maps)
  for x, padded_x in zip(maps, padded):
    for pads, result in zip(all_pads, padded_x):
      np.testing.assert_array_equal(
          result, np.pad(x, ((0, 0), *pads, (0, 0)), mode="reflect"),
          err_msg=f"map {x.shape[1:3]}, pads {pads}")


@pytest.mark.slow
def test_reflect_blurpool_equals_depthwise_convolution_of_the_reflected_map():
  """Filters 1..7 on the CIFAR models' map sizes 2, 4, 8: the reference is a depthwise
  convolution of np.pad(mode='reflect'), and a constant map stays constant."""
  sizes, rng = range(1, 8), np.random.default_rng(10)
  maps = {n: rng.normal(size=(2, n, n, 3)).astype(np.float32) for n in (2, 4, 8)}
  padded = {(n, size): np.pad(x, ((0, 0), *same_pads(size), (0, 0)), mode="reflect")
            for n, x in maps.items() for size in sizes}

  @jax.jit  # one compilation for all cases
  def blur_and_reference(maps, padded):
    out = {}
    for (n, size), p in padded.items():
      pool = BlurPool(size=size, stride=2, padding="reflect")
      out[n, size] = (pool.apply({}, maps[n]),
                      depthwise_conv_blur_subsample(p, binomial_filter(size), 2),
                      pool.apply({}, jnp.ones((1, n, n, 1))))
    return out

  for (n, size), (blurred, reference, ones) in blur_and_reference(maps, padded).items():
    assert blurred.shape == (2, n // 2, n // 2, 3), (n, size)
    np.testing.assert_allclose(blurred, reference, atol=1e-5, err_msg=f"{n}x{n}, size {size}")
    np.testing.assert_allclose(ones, 1.0, atol=1e-6, err_msg=f"{n}x{n}, size {size}")


def test_zero_padded_blur_loses_mass_at_the_border_and_reflect_does_not():
  """Zhang pads with reflection: zero padding gives (11/16)^2 = 0.47 in the corner of an 8x8
  map of ones with a 5-tap blur."""
  ones = jnp.ones((1, 8, 8, 1))
  zeros_out = BlurPool(size=5, stride=1, padding="zeros").apply({}, ones)
  np.testing.assert_allclose(zeros_out[0, 0, 0, 0], (11 / 16)**2, atol=1e-6)
  np.testing.assert_allclose(BlurPool(size=5, stride=1).apply({}, ones), 1.0, atol=1e-6)
  assert set(BLUR_PADDINGS.names()) == {"reflect", "zeros", "circular"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet", "resnet20"])
def test_blur_size_1_is_exactly_the_strided_network(name):
  """Same parameters, same logits and BatchNorm statistics in training and evaluation."""
  variables, x = small_variables(name), random_images(8, 3)
  models = [build_model(name, width=SMALL_WIDTH[name], downsample=strategy, blur_size=1)
            for strategy in ("stride", "blurpool")]

  @jax.jit
  def outputs(v, x):
    return [(m.apply(v, x, train=True, mutable=["batch_stats"]), m.apply(v, x, train=False))
            for m in models]

  strided, blurpool = outputs(variables, x)
  jax.tree_util.tree_map(np.testing.assert_array_equal, blurpool, strided)


@pytest.mark.slow
def test_circular_blurpool_model_is_invariant_to_shifts_by_its_total_stride():
  """Two stride-2 BlurPools with circular padding: a roll by a multiple of 4 only rolls the
  last map, which global average pooling ignores. A reflect-padded blur breaks this, so
  'auto' picks circular in circular-padded models."""
  x = random_images(9, 2)
  batch = jnp.concatenate([x] + [jnp.roll(x, s, axis=(1, 2)) for s in ((4, 0), (8, 12))])
  changes = {}
  for blur_padding in ("auto", "reflect"):
    model = build_model("alexnet", width=SMALL_WIDTH["alexnet"], downsample="blurpool",
                        blur_size=5, padding="circular", blur_padding=blur_padding)
    logits = apply_fn(model)(small_variables("alexnet"), batch).reshape(3, 2, -1)
    scale = float(jnp.max(jnp.abs(logits[0])))
    changes[blur_padding] = float(jnp.max(jnp.abs(logits[1:] - logits[0]))) / scale
  assert changes["auto"] <= 1e-4 < 1e-3 < changes["reflect"]
