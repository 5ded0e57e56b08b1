"""Bootstrap intervals for means over seeds and images, and for paired differences of runs.

The data of one run (a setting, trained with S seeds, each evaluated on the same N test
images) and one or more metrics: values (M, S, N), M metrics, per seed and image (e.g. an
image's P(top-1 change) pooled over sizes, evaluate.stats.per_image.pooled). The estimate is the
mean over seeds and images. Seeds and images are crossed (every seed sees every image), so a
replicate resamples both, independently (as the "multi-bootstrap" of Sellam et al. 2022, The
MultiBERTs, ICLR), with its seed level corrected and a small-sample widening. Per run and metric, from values X:

  xbar[i]  = mean_s X[s, i]                          each image's mean over the seeds
  dev[s]   = mean_i X[s, i] - mean X                 each seed's deviation from the mean
  v        = sum_s dev[s]^2 / (S - 1)                variance of the seed means
  e2       = sum_(s,i) (X[s,i] - mean_i X[s,i] - xbar[i] + mean X)^2 / ((S - 1)(N - 1))
                                                     seed x image (interaction) variance
  u        = max(0, v - e2 / N) / S                  between-seed variance / S (ANOVA)
  k        = sqrt(S / (S - 1)) sqrt(u S / v)         (0 for S = 1 or v = 0)

  replicate r (r = 1..R):
    images:  N draws with replacement from the N images -> counts c_r (N,)
    seeds:   S draws with replacement from the S seeds  -> counts d_r (S,)
    mean*_r = sum_i (c_r[i] / N) xbar[i]  +  k sum_s (d_r[s] / S) dev[s]

The image term varies over replicates like the mean over images of the seed-averaged values,
which already holds the seed x image noise once. The seed term adds only the seed-to-seed
variation beyond it: k makes its variance over replicates u, the two-way ANOVA estimate of
the between-seed variance over S (resampling the seed means as they are, as the plain
multi-bootstrap does, counts the interaction again and is too wide when it dominates, as it
does for per-image binary metrics; sqrt(S / (S - 1)) undoes the (S - 1) / S shrinkage of a
bootstrap over S values).

Small samples: the percentile interval of the replicates is then widened about the estimate
by t / z, the Student-t quantile at (1 + confidence) / 2 over the normal one, with the
Welch-Satterthwaite degrees of freedom of the variance components, df = (sum_j w_j)^2 /
sum_j (w_j^2 / df_j): the image term (w = var_i(xbar) / N, or of the per-image differences
for a difference, N - 1 df) and each run's seed term (w = u, S - 1 df). With no seed term
this is t(N - 1) / z (1.01 at 100 images); when the between-seed variance of 3 seeds
dominates, up to t(2) / z = 2.20 (a variance estimated from 3 seeds is uncertain: without
the widening the interval covers 0.86-0.88 instead of 0.95 there, docs/evaluation.md).

A paired difference of runs A and B (the same N images; B - A) draws ONE image resample c_r
per replicate and uses it for both runs (the pairing: image i of A against image i of B,
which cancels the image-to-image variation they share), and by default resamples each run's
seeds independently (d_r for A, then for B). diff*_r = mean*_r(B) - mean*_r(A). With one seed
per run this is the ordinary paired bootstrap over images (widened by t / z with N - 1 df).

Paired seeds (pair_seeds=True; `--pair_seeds` of evaluate.compare and sweep.py --collect): seed
j of A and seed j of B are not unrelated. config.seed fixes the order of the training data and,
for every parameter whose path (and shape) is the same in both models, its initialisation; so
runs with the same seed number may share a per-seed effect (a lucky data order, a good
initialisation of the layers they have in common). Where A and B hold the same seed numbers,
seed j of A is paired with seed j of B (the caller orders them so) and a replicate draws ONE
seed resample d_r for both, as it draws one image resample. The difference is then the
hierarchical bootstrap of the per-(seed, image) differences D = B - A (S, N):

  diff*_r = sum_i (c_r[i] / N) Dbar[i]  +  k_D sum_s (d_r[s] / S) devD[s]

with Dbar, devD, k_D computed from D as xbar, dev, k above from X: a per-seed effect both runs
share cancels in devD, and k_D's ANOVA correction is that of D. The widening differs: the
seed term of D is ONE component of S - 1 df (3 seeds: 2), and Welch-Satterthwaite's df, which
rise towards the image term's N - 1 whenever the seed variance happens to be estimated low,
then leave the interval too narrow (coverage 0.88-0.90 with 3 seeds and a seed effect of the
difference, measured). So each component is widened by its own t: the factor is
sqrt(t(S - 1)^2 u_D + t(N - 1)^2 w) / (z sqrt(u_D + w)), w = var_i(Dbar) / N
(componentwise_factor; where the seed term dominates, the interval of a t with S - 1 df, as
a paired t-test over seeds would use). It is as valid as the independent resampling when seeds
share nothing (the seeds of both runs are then exchangeable pairs), and narrower when they
share an effect (coverage: docs/evaluation.md, "Paired seeds"). Each run's own interval uses
the same d_r and c_r (and its own widening, as without pairing). It needs the same number of
seeds in both runs.

Interval: the percentile interval, the (1 - confidence) / 2 and (1 + confidence) / 2
quantiles (numpy linear interpolation) of the R replicates, widened by t / z as above (each
run's own interval with its own components). `distinguishable`: the interval
of a difference excludes 0. The replicates come from numpy.random.default_rng(seed) in blocks
of _BLOCK (per block: images, then A's seeds, then B's; with paired seeds: images, then
the seeds of both), so a call is reproducible; every
metric of a call shares the same resamples.

Range: with `bounds` (lo, hi), the range every per-image value lies in ((0, 1) for the
proportions evaluate.stats.paired compares), each run's interval is clipped to [lo, hi] and
that of B - A to [lo - hi, hi - lo] ([-1, 1]): the t / z widening about the estimate, and the
percentile interval of a skewed resample near 0 or 1, can otherwise reach impossible values
("0.083 [-0.017, 0.184]"). Clipping keeps coverage exactly: the true value lies in the range,
so it is in the clipped interval exactly when it is in the unclipped one; nor does it change
`distinguishable` (0 lies in [-1, 1]).

p-value (for multiple comparisons, evaluate.stats.multiplicity): the smallest alpha at which
the interval built the same way at confidence 1 - alpha (percentile interval of the same
replicates, widened by t / z at (2 - alpha) / 2 with the same df) excludes 0, by bisection;
so p < 1 - confidence exactly where the reported interval excludes 0. Resolution 1/R (the
smallest reported p); 1 where no interval excludes 0.

Coverage of the 95% interval of a difference (experiments/bootstrap_coverage.py, 500
replications, 100 and 1000 images; the table in docs/evaluation.md): 0.936-0.968 with one
seed; 0.918-0.976 with 3 seeds, whose intervals are 1.2-1.5x as wide as the estimate's real
spread (the price of estimating a variance from 3 seeds); 0.952-0.958 and 1.09x with 10.
With 8, 20 and 40 images: 0.885-0.985 at moderate rates, but with rare events (rates near 0
or 1) resamples without any event make intervals too narrow: 0.35-0.88 at 8 images, 0.70-0.99
at 20, 0.89-0.97 at 40 (docs/evaluation.md, "Coverage with few images and rare events"; the
tables mark such cells, evaluate/paired_tables.py: low_coverage). With paired seeds (100
images): 0.95-0.98 for per-image binary values with 3 seeds and 0.95 with 10 seeds, but
0.91-0.94 for continuous values with 3 seeds whose difference keeps a seed effect of its own;
where the seeds share an effect, 0.2-0.9x the width of the independent interval
(docs/evaluation.md, "Paired seeds").
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Optional

import numpy as np

DEFAULT_REPLICATES = 2000
DEFAULT_CONFIDENCE = 0.95
# Replicates per block (bounds the (block, N) weight arrays: 256 x 10,000 images = 20 MB).
_BLOCK = 256


def resample_counts(rng: np.random.Generator, count: int, replicates: int) -> np.ndarray:
  """(replicates, count) int: how often each of `count` items is drawn when `count` items
  are drawn with replacement, independently per replicate (rows sum to `count`)."""
  draws = rng.integers(0, count, (replicates, count))
  flat = draws + count * np.arange(replicates)[:, None]
  return np.bincount(flat.ravel(), minlength=replicates * count).reshape(replicates, count)


def seed_variance(values: np.ndarray) -> np.ndarray:
  """(M,) u = max(0, v - e2 / N) / S (module docstring): the two-way ANOVA estimate of the
  between-seed variance over S, the variance of the seed term; 0 for one seed."""
  num_seeds, num_images = values.shape[1:]
  if num_seeds < 2:
    return np.zeros(values.shape[0])
  seed_means = values.mean(2, keepdims=True)  # (M, S, 1)
  image_means = values.mean(1, keepdims=True)  # (M, 1, N)
  grand = values.mean((1, 2), keepdims=True)
  variance = ((seed_means - grand) ** 2).sum((1, 2)) / (num_seeds - 1)  # v
  if num_images < 2:
    interaction = np.zeros(values.shape[0])
  else:
    interaction = (((values - seed_means - image_means + grand) ** 2).sum((1, 2))
                   / ((num_seeds - 1) * (num_images - 1)))  # e2
  return np.maximum(0.0, variance - interaction / num_images) / num_seeds


def seed_scale(values: np.ndarray) -> np.ndarray:
  """(M,) k0 = sqrt(S / (S - 1)) sqrt(max(0, 1 - e2 / (N v))) (module docstring): scales the
  resampled seed deviations so that their variance over replicates is seed_variance."""
  num_seeds = values.shape[1]
  if num_seeds < 2:
    return np.zeros(values.shape[0])
  variance = values.mean(2).var(1, ddof=1)  # v
  with np.errstate(divide="ignore", invalid="ignore"):
    kept = np.where(variance > 0, seed_variance(values) * num_seeds / variance, 0.0)
  return np.sqrt(num_seeds / (num_seeds - 1)) * np.sqrt(np.clip(kept, 0.0, 1.0))


def image_variance(image_values: np.ndarray) -> np.ndarray:
  """(M,) var_i / N (ddof 1) of (M, N) per-image values (each image's mean over seeds, or
  its paired difference): the variance of the image term; 0 for one image."""
  count = image_values.shape[1]
  return image_values.var(1, ddof=1) / count if count > 1 else np.zeros(len(image_values))


def degrees_of_freedom(components: Sequence[tuple[np.ndarray, int]]) -> np.ndarray:
  """(M,) the Welch-Satterthwaite degrees of freedom of the variance components, df =
  (sum_j w_j)^2 / sum_j (w_j^2 / df_j); inf where every component is 0 (no widening).

  components: (w_j (M,), df_j) pairs: the image term (image_variance, N - 1) and each run's
  seed term (seed_variance, S - 1).
  """
  total = sum(w for w, _ in components)
  spread = sum(w ** 2 / df for w, df in components if df > 0)
  valid = np.asarray(spread > 0)
  return np.where(valid, total ** 2 / np.where(valid, spread, 1.0), np.inf)


def t_over_z(df: np.ndarray, confidence) -> np.ndarray:
  """(M,) the Student-t quantile at (1 + confidence) / 2 with `df` degrees of freedom over the
  normal one (1 for infinite df); confidence a number or (M,)."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  level = (1.0 + np.asarray(confidence, np.float64)) / 2.0
  return np.where(np.isinf(df), 1.0,
                  stats.t.ppf(level, np.where(np.isinf(df), 1.0, df)) / stats.norm.ppf(level))


def componentwise_factor(components: Sequence[tuple[np.ndarray, int]],
                         confidence) -> np.ndarray:
  """(M,) sqrt(sum_j t_j^2 w_j) / (z sqrt(sum_j w_j)), t_j the Student-t quantile at
  (1 + confidence) / 2 with component j's own df_j, z the normal one: each variance component
  widened by its own t (module docstring, "Paired seeds"); 1 where every component is 0.
  confidence a number or (M,)."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  level = (1.0 + np.asarray(confidence, np.float64)) / 2.0
  total = sum(w for w, _ in components)
  widened_total = sum(w * stats.t.ppf(level, df) ** 2 for w, df in components if df > 0)
  valid = np.asarray(total > 0)
  return np.where(valid, np.sqrt(widened_total / np.where(valid, total, 1.0))
                  / stats.norm.ppf(level), 1.0)


def small_sample_factor(components: Sequence[tuple[np.ndarray, int]],
                        confidence: float) -> np.ndarray:
  """(M,) t / z: the Student-t quantile at (1 + confidence) / 2 with the Welch-Satterthwaite
  degrees of freedom of the variance components (degrees_of_freedom) over the normal
  quantile; 1 where every component is 0."""
  return t_over_z(degrees_of_freedom(components), confidence)


@dataclasses.dataclass(frozen=True)
class _RunTerms:
  """What the replicates of one run need (module docstring): xbar (M, N), dev (M, S), k (M,)."""
  image_means: np.ndarray
  seed_deviations: np.ndarray
  seed_scale: np.ndarray

  @classmethod
  def of(cls, values: np.ndarray) -> "_RunTerms":
    return cls(values.mean(1), values.mean(2) - values.mean((1, 2))[:, None],
               seed_scale(values))

  def replicates(self, seed_counts: np.ndarray, image_counts: np.ndarray) -> np.ndarray:
    """(M, R) mean*_r (before the t / z widening) for seed_counts (R, S) and image_counts
    (R, N) from resample_counts."""
    image_part = self.image_means @ (image_counts.T / image_counts.shape[1])
    seed_part = self.seed_deviations @ (seed_counts.T / seed_counts.shape[1])
    return image_part + self.seed_scale[:, None] * seed_part


def resampled_means(values: np.ndarray, seed_counts: np.ndarray,
                    image_counts: np.ndarray) -> np.ndarray:
  """(M, R) mean*_r (module docstring, before the t / z widening) of `values` (M, S, N)
  under each replicate's resample: seed_counts (R, S) and image_counts (R, N) from
  resample_counts."""
  return _RunTerms.of(values).replicates(seed_counts, image_counts)


def widened(estimate: np.ndarray, low: np.ndarray, high: np.ndarray, factor: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
  """The interval (low, high) stretched about `estimate` by `factor` (each (M,))."""
  return estimate + factor * (low - estimate), estimate + factor * (high - estimate)


def _run_components(values: np.ndarray) -> list[tuple[np.ndarray, int]]:
  """The variance components of one run's mean: image term, seed term (with their df)."""
  return [(image_variance(values.mean(1)), values.shape[2] - 1),
          (seed_variance(values), values.shape[1] - 1)]


def percentile_interval(replicates: np.ndarray, confidence: float
                        ) -> tuple[np.ndarray, np.ndarray]:
  """The percentile interval (low, high), each (M,), of (M, R) replicates."""
  tail = (1.0 - confidence) / 2.0
  low, high = np.quantile(replicates, [tail, 1.0 - tail], axis=-1)
  return low, high


def clipped(low: np.ndarray, high: np.ndarray, bounds: Optional[tuple[float, float]]
            ) -> tuple[np.ndarray, np.ndarray]:
  """The interval (low, high) clipped to bounds (lowest, highest) (module docstring, "Range");
  unchanged for bounds None."""
  if bounds is None:
    return low, high
  return np.clip(low, *bounds), np.clip(high, *bounds)


def difference_bounds(bounds: Optional[tuple[float, float]]
                      ) -> Optional[tuple[float, float]]:
  """The range of B - A when every value lies in bounds (lo, hi): (lo - hi, hi - lo)."""
  return None if bounds is None else (bounds[0] - bounds[1], bounds[1] - bounds[0])


def _sorted_quantile(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
  """(M,) per row m the q[m] quantile of (M, R) row-sorted replicates, with numpy's default
  linear interpolation."""
  position = q * (ordered.shape[1] - 1)
  below = np.floor(position).astype(np.int64)
  above = np.minimum(below + 1, ordered.shape[1] - 1)
  rows = np.arange(len(ordered))
  return ordered[rows, below] + (position - below) * (ordered[rows, above]
                                                      - ordered[rows, below])


def _excludes_zero(estimate: np.ndarray, ordered: np.ndarray, factor: Callable,
                   alpha: np.ndarray) -> np.ndarray:
  """(M,) bool: the percentile interval at confidence 1 - alpha[m], widened by
  factor(1 - alpha), excludes 0."""
  low, high = widened(estimate, _sorted_quantile(ordered, alpha / 2.0),
                      _sorted_quantile(ordered, 1.0 - alpha / 2.0), factor(1.0 - alpha))
  return (low > 0) | (high < 0)


def interval_p_value(estimate: np.ndarray, replicates: np.ndarray, df: np.ndarray, *,
                     iterations: int = 40, factor: Optional[Callable] = None) -> np.ndarray:
  """(M,) the two-sided p-value of "B - A = 0" that matches the interval: the smallest alpha at
  which the interval built as the reported one (percentile interval of `replicates` (M, R) at
  confidence 1 - alpha, widened about `estimate` by t / z with `df` degrees of freedom) excludes
  0 (module docstring, "p-value"). So p < 1 - confidence exactly where that interval excludes 0.
  Found by bisection on alpha in [1/R, 1 - 1e-6] (the interval narrows as alpha grows); 1/R
  (the resolution of R replicates) where the interval excludes 0 even at confidence 1 - 1/R,
  1 where it never excludes 0 (e.g. every replicate 0)."""
  factor = factor or (lambda confidence: t_over_z(df, confidence))  # noqa: E731
  ordered = np.sort(np.asarray(replicates, np.float64), axis=1)
  size = len(ordered)
  top = 1.0 - 1e-6
  floor = min(1.0 / ordered.shape[1], top)
  low, high = np.full(size, floor), np.full(size, top)
  at_floor = _excludes_zero(estimate, ordered, factor, low)
  never = ~_excludes_zero(estimate, ordered, factor, high)
  for _ in range(iterations):
    middle = (low + high) / 2.0
    excluded = _excludes_zero(estimate, ordered, factor, middle)
    high, low = np.where(excluded, middle, high), np.where(excluded, low, middle)
  return np.where(at_floor, floor, np.where(never, 1.0, high))


def _check(values: np.ndarray, name: str) -> np.ndarray:
  values = np.asarray(values, np.float64)
  if values.ndim != 3 or 0 in values.shape:
    raise ValueError(f"{name} must have shape (metrics, seeds, images) with none empty, got "
                     f"{values.shape}")
  if not np.all(np.isfinite(values)):
    raise ValueError(f"{name} holds NaN or infinite values")
  return values


def _check_options(replicates: int, confidence: float) -> None:
  if replicates < 1:
    raise ValueError(f"the number of bootstrap replicates must be >= 1, got {replicates}")
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence must be in (0, 1), got {confidence}")


@dataclasses.dataclass(frozen=True)
class MeanInterval:
  """Per metric (M,): the mean over seeds and images and its percentile interval."""
  mean: np.ndarray
  low: np.ndarray
  high: np.ndarray


@dataclasses.dataclass(frozen=True)
class DifferenceInterval:
  """Per metric (M,): each run's mean and interval, B - A and its interval."""
  a: MeanInterval
  b: MeanInterval
  diff: np.ndarray
  low: np.ndarray
  high: np.ndarray
  p_value: np.ndarray

  @property
  def distinguishable(self) -> np.ndarray:
    """(M,) bool: the interval of B - A excludes 0 (p_value < 1 - confidence)."""
    return (self.low > 0) | (self.high < 0)


def mean_interval(values: np.ndarray, *, replicates: int = DEFAULT_REPLICATES, seed: int = 0,
                  confidence: float = DEFAULT_CONFIDENCE,
                  bounds: Optional[tuple[float, float]] = None) -> MeanInterval:
  """The mean over seeds and images of values (M, S, N) and its hierarchical bootstrap
  interval (module docstring), clipped to `bounds` (lowest, highest), the range every value
  lies in (e.g. (0, 1) for a proportion; None: not clipped)."""
  values = _check(values, "values")
  _check_options(replicates, confidence)
  rng = np.random.default_rng(seed)
  terms = _RunTerms.of(values)
  out = []
  for start in range(0, replicates, _BLOCK):
    block = min(_BLOCK, replicates - start)
    images = resample_counts(rng, values.shape[2], block)
    seeds = resample_counts(rng, values.shape[1], block)
    out.append(terms.replicates(seeds, images))
  mean = values.mean((1, 2))
  low, high = widened(mean, *percentile_interval(np.concatenate(out, axis=1), confidence),
                      small_sample_factor(_run_components(values), confidence))
  return MeanInterval(mean, *clipped(low, high, bounds))


def _paired_replicates(values_a: np.ndarray, values_b: np.ndarray, replicates: int,
                       seed: int, pair_seeds: bool = False
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """((M, R) mean*_r of A, of B, diff*_r of B - A): one image resample per replicate shared
  by both runs; each run's seeds resampled independently (diff*_r = mean*_r(B) -
  mean*_r(A)), or with pair_seeds one seed resample shared by both, and diff*_r from the
  per-(seed, image) differences B - A (module docstring, "Paired seeds")."""
  rng = np.random.default_rng(seed)
  terms_a, terms_b = _RunTerms.of(values_a), _RunTerms.of(values_b)
  terms_diff = _RunTerms.of(values_b - values_a) if pair_seeds else None
  means_a, means_b, diffs = [], [], []
  for start in range(0, replicates, _BLOCK):
    block = min(_BLOCK, replicates - start)
    images = resample_counts(rng, values_a.shape[2], block)
    seeds_a = resample_counts(rng, values_a.shape[1], block)
    seeds_b = seeds_a if pair_seeds else resample_counts(rng, values_b.shape[1], block)
    means_a.append(terms_a.replicates(seeds_a, images))
    means_b.append(terms_b.replicates(seeds_b, images))
    diffs.append(terms_diff.replicates(seeds_a, images) if pair_seeds
                 else means_b[-1] - means_a[-1])
  return (np.concatenate(means_a, axis=1), np.concatenate(means_b, axis=1),
          np.concatenate(diffs, axis=1))


def _difference_components(values_a: np.ndarray, values_b: np.ndarray, pair_seeds: bool
                           ) -> list[tuple[np.ndarray, int]]:
  """The variance components of B - A (module docstring): the image term of the per-image
  differences, then each run's seed term, or with pair_seeds the seed term of B - A."""
  image_term = (image_variance(values_b.mean(1) - values_a.mean(1)), values_a.shape[2] - 1)
  if pair_seeds:
    return [image_term, (seed_variance(values_b - values_a), values_a.shape[1] - 1)]
  return [image_term, (seed_variance(values_a), values_a.shape[1] - 1),
          (seed_variance(values_b), values_b.shape[1] - 1)]


def _own_interval(values: np.ndarray, replicates: np.ndarray, confidence: float,
                  bounds: Optional[tuple[float, float]]) -> MeanInterval:
  """One run's mean and its interval from its replicates in a paired call."""
  mean = values.mean((1, 2))
  low, high = widened(mean, *percentile_interval(replicates, confidence),
                      small_sample_factor(_run_components(values), confidence))
  return MeanInterval(mean, *clipped(low, high, bounds))


def difference_interval(values_a: np.ndarray, values_b: np.ndarray, *,
                        replicates: int = DEFAULT_REPLICATES, seed: int = 0,
                        confidence: float = DEFAULT_CONFIDENCE,
                        widen: bool = True,
                        bounds: Optional[tuple[float, float]] = None,
                        pair_seeds: bool = False) -> DifferenceInterval:
  """B - A of the means over seeds and images, with the paired hierarchical bootstrap
  (module docstring): values_a (M, S_a, N) and values_b (M, S_b, N), image i of both being
  the same test image. widen=False leaves out the t / z widening (for
  experiments/bootstrap_coverage.py, which shows what it does). bounds (lowest, highest): the
  range every value lies in ((0, 1) for proportions); each run's interval is clipped to it and
  that of B - A to difference_bounds(bounds) (None: nothing clipped). p_value:
  interval_p_value of B - A (unchanged by the clipping, which never moves 0 in or out).
  pair_seeds: seed s of A and seed s of B were trained with the same config.seed (the caller
  orders them so); their seeds are resampled jointly (module docstring, "Paired seeds").

  Raises:
    ValueError: shapes that do not pair (different metrics or images, or with pair_seeds
      different numbers of seeds), NaN values, or bad options.
  """
  values_a, values_b = _check(values_a, "values_a"), _check(values_b, "values_b")
  if values_a.shape[0] != values_b.shape[0] or values_a.shape[2] != values_b.shape[2]:
    raise ValueError(f"cannot pair values of shapes {values_a.shape} and {values_b.shape}: "
                     "the metrics and the images must be the same")
  if pair_seeds and values_a.shape[1] != values_b.shape[1]:
    raise ValueError(f"cannot pair seeds: A has {values_a.shape[1]} seeds and B "
                     f"{values_b.shape[1]} (shapes {values_a.shape} and {values_b.shape})")
  _check_options(replicates, confidence)
  means_a, means_b, diffs = _paired_replicates(values_a, values_b, replicates, seed,
                                               pair_seeds)
  a, b = values_a.mean((1, 2)), values_b.mean((1, 2))
  components = _difference_components(values_a, values_b, pair_seeds)
  df = degrees_of_freedom(components) if widen else np.full(len(a), np.inf)
  factor = (functools.partial(componentwise_factor, components) if pair_seeds and widen
            else functools.partial(t_over_z, df))
  low, high = widened(b - a, *percentile_interval(diffs, confidence), factor(confidence))
  low, high = clipped(low, high, difference_bounds(bounds))
  return DifferenceInterval(
      a=_own_interval(values_a, means_a, confidence, bounds),
      b=_own_interval(values_b, means_b, confidence, bounds),
      diff=b - a, low=low, high=high,
      p_value=interval_p_value(b - a, diffs, df, factor=factor))
