"""fractional_shift (FFT phase-ramp shifts) and the adversarial summary (worst grid point)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common.fourier import fourier_shift, remove_nyquist
from evaluate import adversarial, grid, metrics, protocols, report

# float32 FFT of pixel values in [0, 255]: rounding errors stay far below this (pixels).
_PIXEL_TOLERANCE = 2e-3


def _image(seed=0):
  return jnp.asarray(np.random.default_rng(seed).uniform(0, 255, (32, 32, 3)), jnp.float32)


def _band_limited(seed=0):
  """A random image without content at the Nyquist frequency (row or column 16)."""
  spectrum = np.fft.fft2(np.asarray(_image(seed), np.float64), axes=(0, 1))
  spectrum[16, :] = 0
  spectrum[:, 16] = 0
  return jnp.asarray(np.real(np.fft.ifft2(spectrum, axes=(0, 1))), jnp.float32)


_shift = jax.jit(lambda image, dy, dx: fourier_shift(image, (dy, dx), (0, 1)))


@pytest.mark.parametrize("dy, dx", [(1, 0), (0, -1), (3, -5), (31, 16)])
def test_integer_phase_ramp_is_jnp_roll(dy, dx):
  image = _image()
  np.testing.assert_allclose(_shift(image, float(dy), float(dx)),
                             jnp.roll(image, (dy, dx), axis=(0, 1)), atol=_PIXEL_TOLERANCE)


def test_shift_by_zero_is_the_identity():
  image = _image(1)
  np.testing.assert_allclose(_shift(image, 0.0, 0.0), image, atol=_PIXEL_TOLERANCE)


@pytest.mark.parametrize("part, times", [(0.5, 2), (0.25, 4)])
def test_fractional_shifts_add_up_to_a_whole_shift(part, times):
  image = _band_limited(2)
  shifted = image
  for _ in range(times):
    shifted = _shift(shifted, part, -part)
  np.testing.assert_allclose(shifted, _shift(image, 1.0, -1.0), atol=_PIXEL_TOLERANCE)
  np.testing.assert_allclose(shifted, jnp.roll(image, (1, -1), axis=(0, 1)),
                             atol=_PIXEL_TOLERANCE)
  # A half shift really moves the image: it is neither the original nor the whole shift.
  half = np.asarray(_shift(image, 0.5, 0.0))
  assert np.abs(half - np.asarray(image)).max() > 1.0
  assert np.abs(half - np.asarray(jnp.roll(image, 1, axis=0))).max() > 1.0


def test_protocol_grid_and_pairs_are_one_step_apart():
  quarter = protocols.build_protocol("fractional_shift", step=0.25, max_shift=1.0,
                                     direction="all")
  assert quarter.num_points == 9 * 9
  assert quarter.grid["dy"].dtype == np.float32
  assert set(np.unique(quarter.grid["dx"])) == {-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5,
                                                0.75, 1.0}
  dy = quarter.grid["dy"][quarter.pairs]
  dx = quarter.grid["dx"][quarter.pairs]
  steps = {(float(a), float(b)) for a, b in zip(dy[:, 1] - dy[:, 0], dx[:, 1] - dx[:, 0])}
  assert steps == {(0.0, 0.25), (0.25, 0.0), (0.25, 0.25)}
  assert quarter.point(0) == {"dy": -1.0, "dx": -1.0}
  torus = protocols.build_protocol("fractional_shift", step=0.5, max_shift=None)
  assert torus.num_points == 64 * 64 and len(torus.pairs) == 64 * 64  # wraps: every point
  # Integer grid points of the protocol are rolls.
  index = int(np.flatnonzero((quarter.grid["dy"] == 1.0) & (quarter.grid["dx"] == -1.0))[0])
  image = _image(3)
  np.testing.assert_allclose(quarter.transform(image, quarter.point(index)),
                             jnp.roll(image, (1, -1), axis=(0, 1)), atol=_PIXEL_TOLERANCE)


def _nyquist_energy(image):
  """Largest |DFT coefficient| in the Nyquist row (16) or column (16) of a 32x32 image."""
  spectrum = np.abs(np.fft.fft2(np.asarray(image, np.float64), axes=(0, 1)))
  return max(spectrum[16].max(), spectrum[:, 16].max())


def test_remove_nyquist_keeps_every_other_frequency_and_matches_band_limit():
  from models.alias_free import band_limit  # pylint: disable=g-import-not-at-top
  image = _image(4)
  smooth = np.asarray(remove_nyquist(image, (0, 1)))
  assert _nyquist_energy(image) > 100 and _nyquist_energy(smooth) < 1e-2
  np.testing.assert_allclose(smooth, _band_limited(4), atol=_PIXEL_TOLERANCE)
  np.testing.assert_allclose(smooth, band_limit(image[None])[0], atol=_PIXEL_TOLERANCE)
  # Odd lengths have no Nyquist bin: unchanged.
  odd = jnp.asarray(np.random.default_rng(5).normal(size=(7, 5)), jnp.float32)
  np.testing.assert_allclose(remove_nyquist(odd, (0, 1)), odd, atol=1e-5)


def _point_image(protocol, dy, dx, image):
  index = int(np.flatnonzero((protocol.grid["dy"] == dy) & (protocol.grid["dx"] == dx))[0])
  return np.asarray(jax.jit(protocol.transform)(image, protocol.point(index)))


def test_raw_variant_rolls_exactly_at_integer_points_and_scales_nyquist_by_cos():
  raw = protocols.build_protocol("fractional_shift", step=0.5, max_shift=2.0)
  assert raw.options["band_limit"] is False and "cos(pi d)" in raw.options["band_limit_meaning"]
  image = _image(6)
  np.testing.assert_array_equal(_point_image(raw, 0.0, 0.0, image), np.asarray(image))
  np.testing.assert_array_equal(_point_image(raw, 1.0, -2.0, image),
                                np.asarray(jnp.roll(image, (1, -2), axis=(0, 1))))
  half = _point_image(raw, 0.5, 0.0, image)
  spectrum = np.fft.fft2(np.asarray(half, np.float64), axes=(0, 1))
  assert np.abs(spectrum[16]).max() < 1e-2  # cos(pi / 2) = 0: the Nyquist row is gone...
  assert np.abs(spectrum[:, 16]).max() > 100  # ...the Nyquist column (dx = 0) is not


def test_band_limited_variant_removes_nyquist_at_every_point_including_zero():
  limited = protocols.build_protocol("fractional_shift", step=0.5, max_shift=1.0,
                                     band_limit=True)
  assert limited.options["band_limit"] is True
  image = _image(7)
  smooth = np.asarray(remove_nyquist(image, (0, 1)))
  np.testing.assert_array_equal(_point_image(limited, 0.0, 0.0, image), smooth)
  np.testing.assert_array_equal(_point_image(limited, -1.0, 1.0, image),
                                np.roll(smooth, (-1, 1), axis=(0, 1)))
  for dy, dx in [(0.5, 0.0), (0.5, -0.5), (-1.0, 0.5)]:
    moved = _point_image(limited, dy, dx, image)
    assert _nyquist_energy(moved) < 1e-2
  # Only the shift differs: half a pixel twice is the one-pixel roll of the same image.
  twice = _shift(jnp.asarray(_point_image(limited, 0.5, 0.0, image)), 0.5, 0.0)
  np.testing.assert_allclose(twice, np.roll(smooth, 1, axis=0), atol=_PIXEL_TOLERANCE)


def test_unit_step_torus_is_the_circular_protocol_image_for_image():
  fractional = protocols.build_protocol("fractional_shift", step=1.0, max_shift=None)
  circular = protocols.build_protocol("circular_shift")
  assert fractional.num_points == circular.num_points == 1024
  image = _image(8)
  for index in (0, 1, 33, 517, 1023):
    point = circular.point(index)
    np.testing.assert_array_equal(
        _point_image(fractional, float(point["dy"]), float(point["dx"]), image),
        np.asarray(circular.transform(image, point)))


@pytest.mark.parametrize("options, field", [
    (dict(band_limit="yes"), "fractional_shift.band_limit"),
    (dict(step=0.3), "fractional_shift.step"),
    (dict(step=0.0), "fractional_shift.step"),
    (dict(step=0.25, max_shift=0.3), "fractional_shift.max_shift"),
    (dict(max_shift=16.0), "fractional_shift.max_shift"),
    (dict(direction="up"), "fractional_shift.direction"),
])
def test_invalid_fractional_options_fail_at_build_time(options, field):
  with pytest.raises(ValueError, match=field):
    protocols.build_protocol("fractional_shift", **options)


# ---- The adversarial summary on hand-made probabilities.

def _one_hot(classes, num_classes=3):
  """(N, G, C) probabilities 0.8 at `classes` (N, G), the rest spread evenly."""
  classes = np.asarray(classes)
  probs = np.full(classes.shape + (num_classes,), 0.2 / (num_classes - 1))
  np.put_along_axis(probs, classes[..., None], 0.8, axis=-1)
  return probs


# Image 0: class 0 everywhere, label 0 (stable, right). Image 1: class 1 everywhere, label 0
# (stable, wrong). Image 2: label 0, class 2 at the last grid point only (unstable).
_CLASSES = [[0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 2]]
_LABELS = np.array([0, 0, 0])


def test_stable_prediction_and_worst_case_accuracy_by_hand():
  probs = _one_hot(_CLASSES)
  assert metrics.stable_prediction(probs)["mean"] == pytest.approx(2 / 3)
  by_group = metrics.stable_prediction(probs, np.array([0, 0, 1, 1]))
  assert by_group["group"] == [0, 1]
  assert by_group["mean"] == pytest.approx([1.0, 2 / 3])
  result = grid.GridResult(probs=probs, labels=_LABELS, protocol_name="circular_shift",
                           protocol_options={}, grid={"dy": np.zeros(4), "dx": np.arange(4)},
                           pairs=np.array([[0, 1], [1, 2], [2, 3]]),
                           pair_group=np.zeros(3, np.int32),
                           point_group=np.array([0, 0, 1, 1]), sampled=False)
  summary = adversarial.adversarial_summary(result)
  assert summary["exhaustive"] and summary["num_grid_points"] == 4
  # Two point groups (sizes): the worst point within each, pooled with equal weight.
  assert summary["stable_prediction"]["mean"] == pytest.approx((1.0 + 2 / 3) / 2)
  assert summary["worst_case_accuracy"]["mean"] == pytest.approx((2 / 3 + 1 / 3) / 2)
  assert summary["by_group"]["worst_case_accuracy"]["mean"] == pytest.approx([2 / 3, 1 / 3])
  # The report writers carry it: a metric column, the detailed entry, and the note.
  entry = report.protocol_entry(result, protocol_type="circular_shift", seconds=0.0, seed=0)
  assert entry["metrics"]["stable_prediction"]["mean"] == pytest.approx(5 / 6)
  assert entry["adversarial"] == summary
  markdown = report.markdown_summary({
      "workdir": "w", "checkpoint_step": 1, "model": {"name": "m"}, "num_images": 3,
      "image_selection": "first", "seed": 0, "clean_accuracy": {"mean": 1.0, "stderr": 0.0},
      "protocols": {"circ": entry}})
  assert "stable at every point" in markdown and "0.8333" in markdown
  assert "over-estimate" not in markdown  # a full grid: exhaustive


@pytest.mark.slow
def test_engine_to_adversarial_summary_on_exact_and_non_invariant_predictors():
  """Through the grid engine: a predictor of the image's mean colour is exactly invariant to
  circular (fractional) shifts; one of the top-left pixel is not."""
  weights = jnp.asarray(np.random.default_rng(0).normal(size=(3, 4)), jnp.float32)
  images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
  labels = np.zeros(4, np.int32)
  protocol = protocols.build_protocol("fractional_shift", step=0.5, max_shift=1.0)
  by_mean = lambda variables, x: (x.mean((1, 2)) - 127.5) @ variables  # noqa: E731
  by_pixel = lambda variables, x: (x[:, 0, 0] - 127.5) @ variables  # noqa: E731
  exact = adversarial.adversarial_summary(grid.evaluate_grid(by_mean, weights, images, labels,
                                                             protocol))
  assert exact["stable_prediction"]["mean"] == 1.0
  moving = adversarial.adversarial_summary(grid.evaluate_grid(by_pixel, weights, images,
                                                              labels, protocol))
  assert moving["stable_prediction"]["mean"] < 1.0


@pytest.mark.slow
def test_full_half_pixel_torus_is_the_exhaustive_worst_case_and_says_so():
  """fractional_shift(step=0.5, max_shift=None) unsampled: all 64 x 64 half-pixel shifts,
  worst case exhaustive and labelled; sampled, the same protocol is an upper bound."""
  weights = jnp.asarray(np.random.default_rng(0).normal(size=(3, 4)), jnp.float32)
  images = np.random.default_rng(2).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
  by_pixel = lambda variables, x: (x[:, 0, 0] - 127.5) @ variables  # noqa: E731
  full = protocols.build_protocol("fractional_shift", step=0.5, max_shift=None)
  result = grid.evaluate_grid(by_pixel, weights, images, np.zeros(2, np.int32), full)
  summary = adversarial.adversarial_summary(result)
  assert summary["exhaustive"] and summary["num_grid_points"] == 4096
  assert summary["over"] == ("every 0.5-pixel (raw image) circular shift of the torus "
                             "(4096 points)")
  # The exhaustive value is the worst over every point: no drawn subset is lower.
  sampled = protocols.build_protocol("fractional_shift", step=0.5, max_shift=None,
                                     sample_pairs=4, band_limit=True)
  drawn = adversarial.adversarial_summary(
      grid.evaluate_grid(by_pixel, weights, images, np.zeros(2, np.int32), sampled))
  assert not drawn["exhaustive"] and "upper bound" in drawn["over"]
  entry = report.protocol_entry(result, protocol_type="fractional_shift", seconds=0.0, seed=0)
  markdown = report.markdown_summary({
      "workdir": "w", "checkpoint_step": 1, "model": {"name": "m"}, "num_images": 2,
      "image_selection": "first", "seed": 0, "clean_accuracy": {"mean": 1.0, "stderr": 0.0},
      "protocols": {"half": entry}})
  assert "fractional_shift (raw)" in markdown and "band_limit=False" in markdown
  assert "worst case over every 0.5-pixel (raw image) circular shift" in markdown
  assert "(exhaustive)" in markdown
