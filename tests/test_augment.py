"""Tests for augment/: exact identities, geometry against independent references, randomness."""
import inspect
import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import augment
from common.registry import UnknownNameError
from data.constants import CIFAR10_MEAN

BATCH = 8
RANDOM_POLICIES = ("flip", "crop", "translate", "downsize_embed", "upscale_crop")
ZERO_MAGNITUDE = {
    "flip": dict(prob=0.0),
    "crop": dict(pad=0),
    "translate": dict(max_shift=0),
    "downsize_embed": dict(min_size=32, max_size=32),
    "upscale_crop": dict(max_scale=1.0),
}


def random_images(seed=0, batch=BATCH, side=32, low=0.0):
  """(batch, side, side, 3) float32 pixel values uniform in [low, 255)."""
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.uniform(low, 255.0, (batch, side, side, 3)).astype(np.float32))


_BUILT = {}


def build(policies, **options):
  """jit(build_augment(defaults updated with `options`)), cached so tests share compilations."""
  cache_key = (policies, tuple(sorted((name, tuple(sorted(values.items())))
                                      for name, values in options.items())))
  if cache_key not in _BUILT:
    config = augment.default_augment_config()
    config.policies = policies
    for name, values in options.items():
      config[name].update(values)
    _BUILT[cache_key] = jax.jit(augment.build_augment(config))
  return _BUILT[cache_key]


embed_resized_jit = jax.jit(augment.embed_resized, static_argnums=4)


def per_example_keys(key, policy_index, batch):
  return jax.random.split(jax.random.fold_in(key, policy_index), batch)


def find_matching(output, candidates):
  """Index of the candidate exactly equal to `output`, or None."""
  for index, candidate in enumerate(candidates):
    if np.array_equal(output, candidate):
      return index
  return None


# --- identities


@pytest.mark.parametrize("policy", RANDOM_POLICIES)
def test_zero_magnitude_is_bitwise_identity(policy):
  images = random_images()
  out = build(policy, **{policy: ZERO_MAGNITUDE[policy]})(jax.random.key(3), images)
  assert np.array_equal(np.asarray(out), np.asarray(images))


def test_all_zero_magnitude_policies_composed_are_identity():
  images = random_images(1)
  out = build(",".join(RANDOM_POLICIES), **ZERO_MAGNITUDE)(jax.random.key(4), images)
  assert np.array_equal(np.asarray(out), np.asarray(images))


@pytest.mark.parametrize("policies", ["", "none", " none "])
def test_no_policy_is_identity(policies):
  images = random_images(2)
  out = build(policies)(jax.random.key(0), images)
  assert np.array_equal(np.asarray(out), np.asarray(images))


def test_geometric_cores_at_zero_magnitude_are_identity():
  image = random_images(5)[0]
  assert np.array_equal(embed_resized_jit(image, 32, 0, 0, "mean"), image)
  assert np.array_equal(jax.jit(augment.upscale_crop_at)(image, 1.0, 0.0, 0.0), image)
  assert np.array_equal(augment.shift_image(image, 0, 0, "fill", "mean"), image)
  assert np.array_equal(augment.pad_and_crop_at(image, 0, 0, 0, "reflect"), image)


# --- shapes, keys


@pytest.mark.parametrize("policy", RANDOM_POLICIES)
def test_shape_and_dtype_kept(policy):
  images = random_images(side=32)
  out = build(policy)(jax.random.key(0), images)
  assert out.shape == images.shape and out.dtype == jnp.float32
  assert np.all(np.isfinite(np.asarray(out)))


def test_other_square_sizes():
  images = random_images(side=24, batch=2)
  out = build(",".join(RANDOM_POLICIES), downsize_embed=dict(min_size=8, max_size=24))(
      jax.random.key(0), images)
  assert out.shape == images.shape and out.dtype == images.dtype


@pytest.mark.parametrize("policy", RANDOM_POLICIES)
def test_each_example_gets_its_own_draw(policy):
  images = jnp.broadcast_to(random_images(6, batch=1), (BATCH, 32, 32, 3))
  out = np.asarray(build(policy)(jax.random.key(7), images))
  distinct = {out[b].tobytes() for b in range(out.shape[0])}
  assert len(distinct) > 1


@pytest.mark.parametrize("policy", RANDOM_POLICIES)
def test_same_key_same_result_different_key_different_result(policy):
  images = random_images(8)
  fn = build(policy)
  first = np.asarray(fn(jax.random.key(1), images))
  assert np.array_equal(first, np.asarray(fn(jax.random.key(1), images)))
  assert not np.array_equal(first, np.asarray(fn(jax.random.key(2), images)))


def test_legacy_uint32_keys_work():
  images = random_images(9)
  out = build("crop,flip")(jax.random.PRNGKey(0), images)
  assert out.shape == images.shape


def test_integer_images_are_rejected():
  with pytest.raises(TypeError, match="float"):
    augment.build_augment(augment.default_augment_config())(
        jax.random.key(0), jnp.zeros((2, 32, 32, 3), jnp.uint8))


# --- flip, crop, translate


def test_flip_outputs_are_image_or_mirror_and_prob_one_always_mirrors():
  images = np.asarray(random_images(10))
  some = np.asarray(build("flip")(jax.random.key(0), images))
  matches = [find_matching(some[b], [images[b], images[b, :, ::-1]]) for b in range(BATCH)]
  assert None not in matches and set(matches) == {0, 1}
  always = np.asarray(build("flip", flip=dict(prob=1.0))(jax.random.key(0), images))
  assert np.array_equal(always, images[:, :, ::-1])


@pytest.mark.parametrize("fill", ["black", "mean", "reflect"])
def test_crop_is_a_window_of_the_padded_image(fill):
  pad = 4  # the default, so the 'black' case reuses the default build
  images = np.asarray(random_images(11))
  out = np.asarray(build("crop", **({} if fill == "black" else dict(crop=dict(fill=fill))))(
      jax.random.key(0), images))
  offsets = set()
  for b in range(BATCH):
    if fill in ("black", "mean"):
      color = np.zeros(3) if fill == "black" else np.asarray(CIFAR10_MEAN)
      padded = np.broadcast_to(color, (32 + 2 * pad, 32 + 2 * pad, 3)).astype(np.float32).copy()
      padded[pad:pad + 32, pad:pad + 32] = images[b]
    else:
      padded = np.pad(images[b], ((pad, pad), (pad, pad), (0, 0)), mode=fill)
    windows = [padded[y:y + 32, x:x + 32]
               for y, x in itertools.product(range(2 * pad + 1), repeat=2)]
    index = find_matching(out[b], windows)
    assert index is not None
    offsets.add(index)
  assert len(offsets) > 1


def test_translate_circular_equals_roll_by_drawn_shift():
  max_shift, key = 4, jax.random.key(12)  # the default options
  images = np.asarray(random_images(12))
  out = np.asarray(build("translate")(key, images))
  for b, example_key in enumerate(per_example_keys(key, 0, BATCH)):
    dy, dx = np.asarray(augment.draw_shift(example_key, max_shift))
    assert max(abs(dy), abs(dx)) <= max_shift
    assert np.array_equal(out[b], np.roll(images[b], (dy, dx), axis=(0, 1)))


def test_translate_fill_is_a_shift_with_fill_colour():
  max_shift, fill = 2, "mean"
  color = np.asarray(CIFAR10_MEAN, np.float32)
  images = np.asarray(random_images(13))
  out = np.asarray(build("translate", translate=dict(max_shift=max_shift, mode="fill",
                                                     fill=fill))(jax.random.key(1), images))
  for b in range(BATCH):
    candidates = []
    for dy, dx in itertools.product(range(-max_shift, max_shift + 1), repeat=2):
      canvas = np.broadcast_to(color, (32 + 2 * max_shift, 32 + 2 * max_shift, 3)).copy()
      canvas[max_shift + dy:max_shift + dy + 32, max_shift + dx:max_shift + dx + 32] = images[b]
      candidates.append(canvas[max_shift:max_shift + 32, max_shift:max_shift + 32])
    assert find_matching(out[b], candidates) is not None


# --- downsize_embed


@pytest.mark.parametrize("size,y,x", [(1, 0, 31), (5, 3, 20), (16, 16, 16), (20, 0, 12),
                                      (31, 1, 0), (32, 0, 0)])
@pytest.mark.parametrize("fill", ["black", "mean"])
def test_embed_resized_is_resize_pasted_into_fill_canvas(size, y, x, fill):
  image = random_images(14)[0]
  color = np.zeros(3, np.float32) if fill == "black" else np.asarray(CIFAR10_MEAN, np.float32)
  expected = np.broadcast_to(color, (32, 32, 3)).copy()
  expected[y:y + size, x:x + size] = jax.image.resize(image, (size, size, 3), "linear",
                                                      antialias=True)
  out = np.asarray(embed_resized_jit(image, size, y, x, fill))
  inside = np.zeros((32, 32), bool)
  inside[y:y + size, x:x + size] = True
  np.testing.assert_allclose(out[inside], expected[inside], atol=2e-3, rtol=0)
  assert np.array_equal(out[~inside], expected[~inside])  # exactly the fill colour


def test_embed_resized_antialiases_when_downsizing():
  # A 1-pixel checkerboard averages to mid-grey when antialiased; point sampling keeps extremes.
  checker = (np.indices((32, 32)).sum(0) % 2 * 255.0).astype(np.float32)
  image = jnp.asarray(np.repeat(checker[:, :, None], 3, axis=2))
  out = np.asarray(embed_resized_jit(image, 8, 4, 4, "black"))[4:12, 4:12]
  np.testing.assert_allclose(out, 127.5, atol=1.0)


def test_downsize_embed_policy_puts_a_square_box_in_range_and_fill_elsewhere():
  min_size, max_size = 6, 20
  images = random_images(15, low=1.0)  # strictly positive, so the box is nonzero
  out = np.asarray(build("downsize_embed", downsize_embed=dict(
      min_size=min_size, max_size=max_size))(jax.random.key(5), images))
  sizes = set()
  for b in range(out.shape[0]):
    nonzero = np.any(out[b] != 0, axis=-1)
    rows, cols = np.nonzero(nonzero)
    y, x = rows.min(), cols.min()
    size = rows.max() - y + 1
    assert cols.max() - x + 1 == size and min_size <= size <= max_size
    assert nonzero[y:y + size, x:x + size].all() and nonzero.sum() == size * size
    sizes.add(size)
  assert len(sizes) > 1


def test_downsize_embed_policy_matches_core_with_drawn_parameters():
  key, images = jax.random.key(16), random_images(16)
  out = np.asarray(build("downsize_embed")(key, images))  # defaults: sizes 16..32, black
  for b, example_key in enumerate(per_example_keys(key, 0, BATCH)):
    size, y, x = augment.draw_embedding(example_key, 32, 16, 32)
    assert 16 <= size <= 32 and 0 <= y <= 32 - size and 0 <= x <= 32 - size
    np.testing.assert_allclose(out[b], embed_resized_jit(images[b], size, y, x, "black"),
                               atol=1e-3, rtol=0)


# --- upscale_crop


@pytest.mark.parametrize("y,x", [(0, 0), (1, 0), (0, 7), (32, 32)])
def test_upscale_crop_at_integer_scale_is_window_of_resize(y, x):
  image = random_images(17)[0]
  upscaled = np.asarray(jax.image.resize(image, (64, 64, 3), "linear"))
  out = np.asarray(jax.jit(augment.upscale_crop_at)(image, 2.0, float(y), float(x)))
  np.testing.assert_allclose(out, upscaled[y:y + 32, x:x + 32], atol=2e-3, rtol=0)


def test_upscale_crop_draws_stay_in_range():
  for seed in range(20):
    scale, y, x = augment.draw_upscale_crop(jax.random.key(seed), 32, 32, 1.5)
    assert 1.0 <= scale <= 1.5
    assert 0.0 <= y <= 32 * scale - 32 + 1e-5 and 0.0 <= x <= 32 * scale - 32 + 1e-5


# --- composition


def test_composition_applies_policies_in_order_with_folded_keys():
  key, images = jax.random.key(18), random_images(18)
  config = augment.default_augment_config()
  config.policies = "translate,flip"
  out = np.asarray(jax.jit(augment.build_augment(config))(key, images))
  translate = augment.make_policy("translate", config.translate)
  flip = augment.make_policy("flip", config.flip)
  expected = augment.apply_per_example(translate, jax.random.fold_in(key, 0), images)
  expected = augment.apply_per_example(flip, jax.random.fold_in(key, 1), expected)
  assert np.array_equal(out, np.asarray(expected))


# --- config errors


def test_unknown_policy_lists_valid_names():
  with pytest.raises(UnknownNameError, match="downsize_embed.*flip.*upscale_crop"):
    augment.build_augment(dict(policies="crop,flipp"))


def test_unknown_option_is_named():
  with pytest.raises(ValueError, match="probability"):
    augment.build_augment(dict(policies="flip", flip=dict(probability=0.5)))


def test_unknown_config_field_is_rejected():
  with pytest.raises(ValueError, match="crops"):
    augment.build_augment(dict(policies="crop", crops=dict(pad=2)))


@pytest.mark.parametrize("policy,options,field", [
    ("flip", dict(prob=1.5), "flip.prob"),
    ("flip", dict(prob=-0.1), "flip.prob"),
    ("flip", dict(prob=float("nan")), "flip.prob"),
    ("crop", dict(pad=-1), "crop.pad"),
    ("crop", dict(pad=2.5), "crop.pad"),
    ("crop", dict(fill="grey"), "crop.fill"),
    ("translate", dict(max_shift=-2), "translate.max_shift"),
    ("translate", dict(mode="wrap"), "translate.mode"),
    ("translate", dict(fill="reflect"), "translate.fill"),
    ("downsize_embed", dict(min_size=20, max_size=10), "downsize_embed.min_size"),
    ("downsize_embed", dict(max_size=33), "downsize_embed.max_size"),
    ("downsize_embed", dict(min_size=0), "downsize_embed.min_size"),
    ("downsize_embed", dict(fill="white"), "downsize_embed.fill"),
    ("downsize_embed", dict(method="nearest"), "downsize_embed.method"),
    ("upscale_crop", dict(max_scale=0.5), "upscale_crop.max_scale"),
    ("upscale_crop", dict(max_scale=float("inf")), "upscale_crop.max_scale"),
])
def test_impossible_options_fail_at_build_time_naming_the_field(policy, options, field):
  config = augment.default_augment_config()
  config.policies = policy
  config[policy] = ml_collections.ConfigDict(options)
  with pytest.raises(ValueError, match=field.replace(".", r"\.")):
    augment.build_augment(config)


def test_unlisted_policies_options_are_not_used():
  # A listed policy's options are validated; an unlisted one's are not applied.
  config = augment.default_augment_config()
  config.policies = "flip"
  config.crop.pad = 8
  images = random_images(20)
  out = np.asarray(augment.build_augment(config)(jax.random.key(0), images))
  images = np.asarray(images)
  assert all(find_matching(out[b], [images[b], images[b, :, ::-1]]) is not None
             for b in range(BATCH))


def test_default_config_matches_factory_defaults_and_builds():
  config = augment.default_augment_config()
  assert sorted(k for k in config.keys() if k != "policies") == augment.POLICIES.names()
  for name in augment.POLICIES.names():
    defaults = {p.name: p.default
                for p in inspect.signature(augment.POLICIES.get(name)).parameters.values()
                if p.name != augment.pipeline.WHOLE_CONFIG_PARAMETER}  # not a user option
    assert config[name].to_dict() == defaults, name
  config.policies = ",".join(augment.POLICIES.names())
  augment.build_augment(config)
