"""Evaluation protocols: each pair differs by exactly the intended transform; inpainting."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import augment
from common.registry import UnknownNameError
from data.constants import CIFAR10_MEAN
from evaluate import protocols
from evaluate.inpaint import inpaint


def _image(seed=0, low=40.0, high=250.0):
  """A (32, 32, 3) float32 image with random content strictly inside (low, high)."""
  return jnp.asarray(np.random.default_rng(seed).uniform(low, high, (32, 32, 3)), jnp.float32)


def _transform_all(protocol, image, indices):
  """(len(indices), 32, 32, 3) images at the given grid points, vmapped."""
  points = {key: jnp.asarray(values[indices]) for key, values in protocol.grid.items()}
  return np.asarray(jax.jit(jax.vmap(protocol.transform, in_axes=(None, 0)))(image, points))


def _pair_images(protocol, image, max_pairs=40, seed=0):
  rng = np.random.default_rng(seed)
  pairs = protocol.pairs[rng.choice(len(protocol.pairs), min(max_pairs, len(protocol.pairs)),
                                    replace=False)]
  first = _transform_all(protocol, image, pairs[:, 0])
  second = _transform_all(protocol, image, pairs[:, 1])
  return pairs, first, second


def test_unknown_protocol_lists_names():
  with pytest.raises(UnknownNameError, match="crop_shift.*embed_shift"):
    protocols.build_protocol("embed_shfit")


@pytest.mark.parametrize("name, options, field", [
    ("embed_shift", dict(sizes=[16, 33]), "embed_shift.sizes"),
    ("embed_shift", dict(sizes=[32]), "embed_shift.sizes"),
    ("embed_scale", dict(sizes=[31, 32]), "embed_scale.sizes"),
    ("embed_shift", dict(fill="white"), "embed_shift.fill"),
    ("crop_shift", dict(direction="up"), "crop_shift.direction"),
    ("crop_shift", dict(scale=1.01), "crop_shift"),
    ("circular_shift", dict(max_shift=16), "circular_shift.max_shift"),
    ("embed_shift", dict(sizes=[4], fill="inpaint", inpaint_iterations=2), "inpaint_iterations"),
    ("crop_shift", dict(bogus=1), "bogus"),
])
def test_invalid_options_fail_at_build_time(name, options, field):
  with pytest.raises((ValueError, TypeError), match=field):
    protocols.build_protocol(name, **options)


def test_build_from_config_entry():
  protocol = protocols.build_protocol_from_config({"type": "embed_shift", "sizes": [20],
                                                   "fill": "mean"})
  assert protocol.name == "embed_shift"
  assert protocol.options["fill"] == "mean" and "normalisation" in protocol.options["fill_meaning"]
  assert protocol.num_points == 13 * 13


@pytest.mark.parametrize("direction", ["diagonal", "horizontal", "vertical"])
def test_crop_shift_pad_pairs_are_one_pixel_moves(direction):
  protocol = protocols.build_protocol("crop_shift", source="pad", pad=3, direction=direction)
  step = protocols.DIRECTIONS.get(direction)[0]
  assert protocol.num_points == 49
  image = _image()
  pairs, first, second = _pair_images(protocol, image)
  for (g1, g2), a, b in zip(pairs, first, second):
    assert (protocol.grid["dy"][g2] - protocol.grid["dy"][g1],
            protocol.grid["dx"][g2] - protocol.grid["dx"][g1]) == step
    # Moving the window by +step moves the content by -step.
    np.testing.assert_array_equal(b[:32 - step[0], :32 - step[1]], a[step[0]:, step[1]:])


def test_crop_shift_upscale_pairs_are_diagonal_moves_of_the_upscaled_image():
  protocol = protocols.build_protocol("crop_shift", scale=1.25)
  assert protocol.options["max_offset"] == 8 and protocol.num_points == 81
  assert len(protocol.pairs) == 64
  _, first, second = _pair_images(protocol, _image())
  np.testing.assert_allclose(second[:, :-1, :-1], first[:, 1:, 1:], atol=1e-3)
  assert np.abs(second - first).max() > 1.0  # the image really moved


@pytest.mark.parametrize("fill", ["black", "mean"])
def test_embed_shift_pair_is_the_same_embedded_image_moved_one_pixel(fill):
  protocol = protocols.build_protocol("embed_shift", sizes=[12, 21], fill=fill)
  background = np.asarray(augment.fill_color(fill, 3))
  pairs, first, second = _pair_images(protocol, _image())
  for (g1, g2), a, b in zip(pairs, first, second):
    size, y, x = (int(protocol.grid[key][g1]) for key in ("size", "dy", "dx"))
    assert protocol.grid["size"][g2] == size
    assert (protocol.grid["dy"][g2], protocol.grid["dx"][g2]) == (y + 1, x + 1)
    moved = np.asarray(augment.shift_image(jnp.asarray(a), 1, 1, "fill", background))
    np.testing.assert_allclose(b, moved, atol=1e-3)
    inside = np.zeros((32, 32), bool)
    inside[y:y + size, x:x + size] = True
    np.testing.assert_array_equal(a[~inside], np.broadcast_to(background, a[~inside].shape))
    assert (a[inside] > 20).all()  # content (> 40 before resizing) survives
  assert set(protocol.pair_group) == {12, 21}
  np.testing.assert_array_equal(protocol.pair_group, protocol.grid["size"][protocol.pairs[:, 0]])


def test_embed_shift_grid_is_every_position_of_every_size():
  protocol = protocols.build_protocol("embed_shift", sizes=[30, 31])
  assert protocol.num_points == 9 + 4
  assert len(protocol.pairs) == 4 + 1  # diagonal neighbours inside each size only
  assert np.all(protocol.grid["dy"] + protocol.grid["size"] <= 32)


def test_embed_scale_pairs_are_sizes_s_and_s_plus_1_at_one_corner():
  protocol = protocols.build_protocol("embed_scale", sizes=[10, 17, 31])
  assert protocol.num_points == 6
  images = _transform_all(protocol, _image(), np.arange(6))
  for k, (g1, g2) in enumerate(protocol.pairs):
    small = protocol.options["sizes"][k]
    assert protocol.pair_group[k] == small
    assert (protocol.grid["size"][g1], protocol.grid["size"][g2]) == (small, small + 1)
    corner = (32 - (small + 1)) // 2
    for g, size in ((g1, small), (g2, small + 1)):
      assert protocol.grid["dy"][g] == protocol.grid["dx"][g] == corner
      content = np.argwhere(images[g].max(-1) > 0)
      np.testing.assert_array_equal(content.min(0), [corner, corner])
      np.testing.assert_array_equal(content.max(0), [corner + size - 1, corner + size - 1])


def test_circular_shift_pair_is_a_roll_by_one_including_wraparound():
  protocol = protocols.build_protocol("circular_shift")
  assert protocol.num_points == 1024 and len(protocol.pairs) == 1024
  image = _image()
  pairs, first, second = _pair_images(protocol, image)
  for a, b in zip(first, second):
    np.testing.assert_array_equal(b, np.roll(a, (1, 1), axis=(0, 1)))
  last = np.flatnonzero((protocol.grid["dy"] == 31) & (protocol.grid["dx"] == 31))[0]
  wrap = protocol.pairs[protocol.pairs[:, 0] == last][0]
  assert protocol.point(wrap[1]) == {"dy": 0, "dx": 0}
  np.testing.assert_array_equal(_transform_all(protocol, image, np.array([wrap[1]]))[0],
                                np.asarray(image))


def test_circular_shift_range_has_no_wraparound():
  protocol = protocols.build_protocol("circular_shift", max_shift=2, direction="horizontal")
  assert protocol.num_points == 25 and len(protocol.pairs) == 20


def test_inpaint_fills_only_the_background_with_values_in_range():
  protocol = protocols.build_protocol("embed_shift", sizes=[6], fill="inpaint")
  black = protocols.build_protocol("embed_shift", sizes=[6], fill="black")
  image = _image(seed=3)
  indices = np.array([0, 100, protocol.num_points - 1])
  painted = _transform_all(protocol, image, indices)
  plain = _transform_all(black, image, indices)
  for g, a, b in zip(indices, painted, plain):
    y, x = protocol.grid["dy"][g], protocol.grid["dx"][g]
    inside = np.zeros((32, 32), bool)
    inside[y:y + 6, x:x + 6] = True
    np.testing.assert_array_equal(a[inside], b[inside])  # embedded image untouched
    content = b[inside]
    assert np.isfinite(a).all()
    assert (a[~inside] >= content.min(0) - 1e-3).all()
    assert (a[~inside] <= content.max(0) + 1e-3).all()


def test_inpaint_of_a_constant_image_is_that_constant():
  known = np.zeros((32, 32), bool)
  known[20:23, 1:4] = True
  value = np.array([10.0, 120.0, 240.0], np.float32)
  image = jnp.where(known[:, :, None], jnp.asarray(value), 0.0)
  filled = np.asarray(inpaint(image, jnp.asarray(known), iterations=16, kernel_size=5))
  np.testing.assert_allclose(filled, np.broadcast_to(value, filled.shape), rtol=1e-5)


def test_mean_fill_is_the_dataset_mean():
  protocol = protocols.build_protocol("embed_shift", sizes=[8], fill="mean")
  out = _transform_all(protocol, _image(), np.array([0]))[0]
  np.testing.assert_allclose(out[31, 31], CIFAR10_MEAN, rtol=1e-6)


def test_sampled_grid_draws_neighbouring_pairs_per_group_and_image():
  protocol = protocols.build_protocol("embed_shift", sizes=[20, 24], sample_pairs=3)
  sampled = protocols.sample_grid(protocol, num_images=5, seed=1)
  assert sampled.index.shape == (5, 12 + 2 * 3)  # 3 pairs and 3 points per size
  np.testing.assert_array_equal(sampled.pair_group, [20, 20, 20, 24, 24, 24])
  np.testing.assert_array_equal(sampled.point_group[:12], np.repeat(sampled.pair_group, 2))
  np.testing.assert_array_equal(sampled.point_columns, np.arange(12, 18))
  np.testing.assert_array_equal(sampled.point_group[12:], [20, 20, 20, 24, 24, 24])
  full_pairs = {tuple(pair) for pair in protocol.pairs}
  for row in sampled.index:
    for j, (c1, c2) in enumerate(sampled.pairs):
      assert (row[c1], row[c2]) in full_pairs
      assert protocol.grid["size"][row[c1]] == sampled.pair_group[j]
    points = row[sampled.point_columns]
    np.testing.assert_array_equal(protocol.grid["size"][points], sampled.point_group[12:])
    assert len(set(points)) == len(points)  # drawn without replacement
  np.testing.assert_array_equal(sampled.grid["dx"], protocol.grid["dx"][sampled.index])
  again = protocols.sample_grid(protocol, num_images=5, seed=1)
  np.testing.assert_array_equal(again.index, sampled.index)
  assert len({tuple(row) for row in sampled.index}) > 1  # images get different positions


def test_sampled_points_give_every_position_the_same_chance():
  # Size 28 with diagonal moves: the anti-diagonal corners (0, 4) and (4, 0) are in no pair,
  # so pair endpoints never reach them; the drawn points must reach all 25 positions alike.
  protocol = protocols.build_protocol("embed_shift", sizes=[28], sample_pairs=4)
  sampled = protocols.sample_grid(protocol, num_images=5000, seed=0)
  points = sampled.index[:, sampled.point_columns]
  counts = np.bincount(points.ravel(), minlength=protocol.num_points)
  expected = points.size / protocol.num_points  # 800 per position
  assert counts.min() > 0
  # Multinomial-like counts: 5 standard deviations (sqrt(800) ~ 28) of slack.
  assert np.abs(counts - expected).max() < 5 * np.sqrt(expected)
  pair_points = np.unique(sampled.index[:, :2 * 4])
  corners = [i for i in range(protocol.num_points)
             if (protocol.grid["dy"][i], protocol.grid["dx"][i]) in ((0, 4), (4, 0))]
  assert not set(corners) & set(pair_points)  # why the points are drawn separately
  # Pairs are uniform over the full grid's pairs (unbiased pair metrics): 16 pairs.
  pair_index = {tuple(pair): k for k, pair in enumerate(protocol.pairs)}
  drawn = [pair_index[(row[2 * j], row[2 * j + 1])] for row in sampled.index for j in range(4)]
  pair_counts = np.bincount(drawn, minlength=len(protocol.pairs))
  assert np.abs(pair_counts - len(drawn) / len(protocol.pairs)).max() < 5 * np.sqrt(
      len(drawn) / len(protocol.pairs))


def test_sampled_points_are_the_whole_group_when_it_is_small():
  protocol = protocols.build_protocol("crop_shift", scale=1.07, sample_pairs=10)  # 3x3 grid
  sampled = protocols.sample_grid(protocol, num_images=3, seed=0)
  for row in sampled.index:
    assert sorted(row[sampled.point_columns]) == list(range(9))
