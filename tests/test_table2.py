"""The paper's Table 2 and appendix A.3 (evaluate/layers/toy1d.py), and ideal interpolation."""
import numpy as np
import pytest

from common.fourier import fourier_shift
from evaluate.layers import toy1d


def _as_tuples(rows):
  return [(tuple(row.signal1), tuple(row.signal2), row.sum1, row.sum2) for row in rows]


def test_table2_matches_the_paper():
  rows = toy1d.table2_rows(("thresholded_relu",))
  assert [row.stage for row in rows[:3]] == ["Original", "Blurred", "Sampled"]
  assert _as_tuples(rows) == [  # Table 2 as printed
      ((0, 0, 0, 1, 0, 0, 0), (0, 0, 1, 0, 0, 0, 0), 1, 1),
      ((0, 1, 4, 6, 4, 1, 0), (1, 4, 6, 4, 1, 0, 0), 16, 16),
      ((0, 4, 4, 0), (1, 6, 1, 0), 8, 8),
      ((0, 0, 0, 0), (0, 6, 0, 0), 0, 6),
  ]


def test_linear_keeps_and_usual_relu_breaks_the_global_sum():
  linear, relu = toy1d.table2_rows(("linear", "relu"))[-2:]
  assert linear.sum1 == linear.sum2 == 8
  assert (tuple(relu.signal1), tuple(relu.signal2)) == ((0, 0, 0, 0), (0, 1, 0, 0))
  assert relu.sum1 != relu.sum2


@pytest.mark.parametrize("size", [2, 3, 4, 5, 6, 7])
def test_binomial_blur_then_subsampling_keeps_the_global_sum_of_every_shift(size):
  # A binomial filter has a zero at the Nyquist frequency: its even and odd taps sum alike, so
  # the subsampled sum of a blurred delta does not depend on the delta's position.
  taps = toy1d.binomial_taps(size)
  sums = []
  for position in range(10, 14):
    delta = np.zeros(24)
    delta[position] = 1.0
    sums.append(toy1d.subsample(toy1d.blur_same(delta, taps)).sum())
  np.testing.assert_allclose(sums, 2.0 ** (size - 2))


def test_ideal_lowpass_matches_appendix_a3():
  signals = toy1d.ideal_lowpass_signals()
  np.testing.assert_allclose(signals["blurred1"], [0, 2 / np.pi, 1, 2 / np.pi, 0], atol=1e-12)
  np.testing.assert_allclose(signals["sampled1"], [0, 0, 1, 0, 0, 0], atol=1e-12)
  central = signals["sampled2"][1:5]  # m = -1..2, the paper's (-0.2122, 0.6336, 0.6336, -0.2122)
  np.testing.assert_allclose(central, [-0.2122, 0.6366, 0.6366, -0.2122], atol=5e-5)
  # The paper prints 0.6336; sinc(1/2) = 2/pi = 0.63662 (a transposed digit in the paper).
  assert abs(central[1] - 0.6336) < 0.004
  # The periodic version (exact ideal filter on a long circle) agrees with the sinc values.
  m = signals["m"]
  np.testing.assert_allclose(signals["periodic_sampled2"][m], signals["sampled2"], atol=1e-3)
  np.testing.assert_allclose(signals["periodic_sampled1"][m], signals["sampled1"], atol=1e-3)


def test_ideal_lowpass_sums_and_relu():
  rows = toy1d.ideal_lowpass_rows(("linear", "thresholded_relu", "relu"), bias=0.8)
  (_, s1, s2), (_, l1, l2) = rows[1], rows[2]
  np.testing.assert_allclose([s1, s2, l1, l2], 1.0, atol=1e-9)
  relu_row, r1, r2 = rows[3]
  np.testing.assert_allclose(relu_row.signal1, [0, 0, 1, 0, 0, 0])  # the delta stays
  assert not relu_row.signal2.any()  # any bias in (2/pi, 1) removes the shifted signal
  np.testing.assert_allclose([r1, r2], [1.0, 0.0], atol=1e-9)
  _, u1, u2 = rows[4]
  assert abs(u1 - 0.2) < 1e-9 and u2 == 0


def test_ideal_case_is_shiftable_by_fourier_interpolation():
  signals = toy1d.ideal_lowpass_signals()
  half_sample = fourier_shift(signals["periodic_sampled1"].astype(np.float32), [0.5], [0])
  np.testing.assert_allclose(half_sample, signals["periodic_sampled2"], atol=1e-5)


def test_fourier_shift_by_whole_samples_is_a_roll_and_keeps_the_sum():
  x = np.random.default_rng(0).normal(size=(2, 8, 6, 3)).astype(np.float32)
  np.testing.assert_allclose(fourier_shift(x, [3, -2], [1, 2]), np.roll(x, (3, -2), (1, 2)),
                             atol=1e-5)
  np.testing.assert_allclose(fourier_shift(x, [0.5, 0.25], [1, 2]).sum((1, 2)), x.sum((1, 2)),
                             atol=1e-4)
  with pytest.raises(ValueError):
    fourier_shift(x, [1.0], [1, 2])
