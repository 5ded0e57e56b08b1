"""The paper's Table 2 and its appendix A.3: blurring before subsampling does not survive a ReLU.

A 1-D delta (signal 1) and the same delta one sample earlier (signal 2) go through
  blur -> subsample by 2 -> nonlinearity,
and the global sum of each stage is compared. Blur + subsampling is linear and keeps the two
global sums equal (shiftable); a ReLU with a bias after it does not.

Table 2 (`table2_rows`): the bin-5 blur [1, 4, 6, 4, 1] (unnormalised, sum 16, as printed),
'same' zero padding, keeping samples 0, 2, 4, ...
Appendix A.3 (`ideal_lowpass_rows`): the ideal half-band low-pass filter. The blurred signals
are sinc(k / 2) and sinc((k - 1) / 2) (numpy.sinc, sin(pi x) / (pi x); peak 1 as printed),
sampled at even k: a delta, and sinc(m - 1/2) = (..., -2/(3 pi), 2/pi, 2/pi, -2/(3 pi), ...).
The global sums (both exactly 1) are those of the periodic version on a long circular grid,
where the ideal filter is exact (the DFT keeps |frequency| < 1/4 cycle per sample, the 1/4 bin
at half gain); its central samples equal the sinc values to within 1e-3.

The nonlinearity the paper calls "ReLU (bias = b)" is the thresholded ReLU, x if x > b else 0
(Keras' ThresholdedReLU(theta=b); the paper's networks are Keras models): it is what turns
(1, 6, 1, 0) into the printed (0, 6, 0, 0) with global sum 6, and it is what lets "the first
signal remain the delta function" in A.3. The usual ReLU with a bias, max(x - b, 0), is shown
too: it also breaks the equality of the sums (0 versus 1 in Table 2).

Everything here is NumPy on tiny arrays; `scripts/table2.py` prints the tables and draws the figure.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from common.registry import Registry

SUBSAMPLING = 2
# Table 2's inputs: a delta at index 3 of 7 samples, and the same delta one sample earlier.
TABLE2_SIGNAL1 = np.array([0, 0, 0, 1, 0, 0, 0], np.float64)
TABLE2_SIGNAL2 = np.array([0, 0, 1, 0, 0, 0, 0], np.float64)
TABLE2_BIAS = 5.0
# Appendix A.3: any bias between 2/pi (the paper prints 0.6336) and 1 separates the signals.
IDEAL_BIAS = 0.8
# The central parts of appendix A.3's infinite (sinc) signals that the paper prints: blurred
# samples k = -2..2, subsampled samples m = -2..3 (sample m = blurred sample 2 m).
IDEAL_BLURRED_RANGE = (-2, 2)
IDEAL_SAMPLED_RANGE = (-2, 3)
# Length of the circular grid on which the periodic ideal filter gives the global sums.
IDEAL_PERIODIC_LENGTH = 4096

# nonlinearity(x, bias) -> y, elementwise.
Nonlinearity = Callable[[np.ndarray, float], np.ndarray]
NONLINEARITIES: Registry[Nonlinearity] = Registry("1-D nonlinearity")
NONLINEARITIES.register("linear")(lambda x, bias: x)
NONLINEARITIES.register("thresholded_relu")(lambda x, bias: np.where(x > bias, x, 0.0))
NONLINEARITIES.register("relu")(lambda x, bias: np.maximum(x - bias, 0.0))

# How each nonlinearity is labelled in the printed tables.
NONLINEARITY_LABELS = {
    "linear": "linear (no nonlinearity)",
    "thresholded_relu": "ReLU (bias={bias:g}) as printed: x if x > {bias:g} else 0",
    "relu": "usual ReLU with bias: max(x - {bias:g}, 0)",
}


@dataclasses.dataclass(frozen=True)
class Row:
  """One stage of the example: the two signals and their global sums."""
  stage: str
  signal1: np.ndarray
  signal2: np.ndarray

  @property
  def sum1(self) -> float:
    return float(self.signal1.sum())

  @property
  def sum2(self) -> float:
    return float(self.signal2.sum())


def binomial_taps(size: int) -> np.ndarray:
  """Unnormalised binomial filter, e.g. 5 -> [1, 4, 6, 4, 1] (the paper's bin-5, sum 2**(size-1))."""
  from models.blurpool import binomial_filter  # pylint: disable=g-import-not-at-top
  return binomial_filter(size) * 2.0 ** (size - 1)


def blur_same(signal: np.ndarray, taps: np.ndarray) -> np.ndarray:
  """Centred ('same') convolution with zero padding: output length = input length."""
  return np.convolve(signal, taps, mode="same")


def subsample(signal: np.ndarray, factor: int = SUBSAMPLING) -> np.ndarray:
  """Keeps samples 0, factor, 2 * factor, ..."""
  return signal[::factor]


def table2_rows(nonlinearities=("thresholded_relu",), bias: float = TABLE2_BIAS,
                blur_size: int = 5) -> list[Row]:
  """Table 2: Original, Blurred, Sampled, then one row per nonlinearity (NONLINEARITIES names)."""
  taps = binomial_taps(blur_size)
  rows = [Row("Original", TABLE2_SIGNAL1, TABLE2_SIGNAL2)]
  rows.append(Row("Blurred", blur_same(rows[-1].signal1, taps), blur_same(rows[-1].signal2, taps)))
  sampled = Row("Sampled", subsample(rows[-1].signal1), subsample(rows[-1].signal2))
  rows.append(sampled)
  for name in nonlinearities:
    apply = NONLINEARITIES.get(name)
    rows.append(Row(NONLINEARITY_LABELS[name].format(bias=bias),
                    apply(sampled.signal1, bias), apply(sampled.signal2, bias)))
  return rows


def periodic_ideal_lowpass(signal: np.ndarray) -> np.ndarray:
  """The ideal half-band low-pass filter on a circular grid, gain 2 (so a delta's peak is 1).

  Keeps DFT bins with |frequency| < 1/4 cycle per sample, the bins at exactly +-1/4 at half
  gain (so the filter is real and even); len(signal) must be a multiple of 4.
  """
  length = signal.shape[0]
  if length % 4:
    raise ValueError(f"the periodic ideal low-pass needs a length divisible by 4, got {length}")
  frequency = np.abs(np.fft.fftfreq(length))
  gain = np.where(frequency < 0.25, 2.0, np.where(frequency == 0.25, 1.0, 0.0))
  return np.real(np.fft.ifft(np.fft.fft(signal) * gain))


def ideal_lowpass_signals(length: int = IDEAL_PERIODIC_LENGTH) -> dict[str, np.ndarray]:
  """Appendix A.3's signals: central parts (infinite sinc signals) and periodic versions.

  Returns a dict of float64 arrays:
    'k': IDEAL_BLURRED_RANGE, the sample indices of the blurred signals shown;
    'blurred1', 'blurred2': sinc(k / 2), sinc((k - 1) / 2) there;
    'm': IDEAL_SAMPLED_RANGE, the indices of the subsampled signals shown;
    'sampled1', 'sampled2': sinc(m), sinc(m - 1/2);
    'periodic_sampled1', 'periodic_sampled2': (length / 2,) the subsampled signals of the
      periodic version (a delta at 0 and at 1 filtered on `length` samples), index 0 = m = 0.
  """
  k = np.arange(IDEAL_BLURRED_RANGE[0], IDEAL_BLURRED_RANGE[1] + 1)
  m = np.arange(IDEAL_SAMPLED_RANGE[0], IDEAL_SAMPLED_RANGE[1] + 1)
  delta = np.zeros(length)
  delta[0] = 1.0
  periodic1 = periodic_ideal_lowpass(delta)
  periodic2 = np.roll(periodic1, 1)
  return {
      "k": k, "blurred1": np.sinc(k / 2), "blurred2": np.sinc((k - 1) / 2),
      "m": m, "sampled1": np.sinc(m), "sampled2": np.sinc(m - 0.5),
      "periodic_sampled1": subsample(periodic1), "periodic_sampled2": subsample(periodic2),
  }


def ideal_lowpass_rows(nonlinearities=("thresholded_relu",), bias: float = IDEAL_BIAS
                       ) -> list[tuple[Row, float, float]]:
  """Appendix A.3 as rows: (Row of central parts, global sum 1, global sum 2).

  Rows: Blurred, Sampled, then one per nonlinearity. The sums are those of the whole
  (periodic) signals; the blurred sums are 2 (gain 2 at frequency 0), the sampled ones 1.
  """
  signals = ideal_lowpass_signals()
  blurred_sum = 2.0  # the filter's gain at frequency 0 times the delta's sum
  rows = [(Row("Blurred (ideal low-pass)", signals["blurred1"], signals["blurred2"]),
           blurred_sum, blurred_sum)]
  full1, full2 = signals["periodic_sampled1"], signals["periodic_sampled2"]
  rows.append((Row("Sampled", signals["sampled1"], signals["sampled2"]),
               float(full1.sum()), float(full2.sum())))
  for name in nonlinearities:
    apply = NONLINEARITIES.get(name)
    rows.append((Row(NONLINEARITY_LABELS[name].format(bias=bias),
                     apply(signals["sampled1"], bias), apply(signals["sampled2"], bias)),
                 float(apply(full1, bias).sum()), float(apply(full2, bias).sum())))
  return rows


def format_signal(signal: np.ndarray, decimals: int = 0) -> str:
  """'(0,4,4,0)' or '(-0.2122,0.6366,...)': the paper's tuple notation."""
  values = [f"{value:.{decimals}f}" if decimals else f"{value:g}" for value in signal]
  return "(" + ",".join("0" if v in ("-0", "0.0000", "-0.0000") else v for v in values) + ")"


def format_table(rows, decimals: int = 0) -> str:
  """A Markdown table: stage | signal1 | signal2 | global sum1 | global sum2.

  rows: Rows (sums from the rows) or (Row, sum1, sum2) tuples.
  """
  lines = ["| stage | signal1 | signal2 | global sum1 | global sum2 |",
           "|---|---|---|---|---|"]
  for entry in rows:
    row, sum1, sum2 = entry if isinstance(entry, tuple) else (entry, entry.sum1, entry.sum2)
    lines.append(f"| {row.stage} | {format_signal(row.signal1, decimals)} | "
                 f"{format_signal(row.signal2, decimals)} | {sum1:.{decimals}f} | "
                 f"{sum2:.{decimals}f} |")
  return "\n".join(lines)
