"""Simulated coverage of evaluate.stats.bootstrap's paired interval (numbers: docs/evaluation.md).

  python -m experiments.bootstrap_coverage [--replications 200] [--images 100] [--variant plain]

--variant: 'default' (evaluate.stats.bootstrap.difference_interval as `python -m evaluate.compare`
uses it), 'no_widening' (the same without the t / z widening), 'plain' (the plain
multi-bootstrap: every replicate the mean over resampled seeds and resampled images, the seed
means resampled as they are, no widening; images shared by A and B as in the default).

For each scenario, draws `replications` pairs of runs with a known true difference, computes
the 95% interval of B - A (evaluate.stats.bootstrap.difference_interval, 1000 resamples) and prints
the fraction of intervals that hold the truth, and the mean interval width / 3.92 divided by
the standard deviation of the estimated difference over the replications (1.0: as wide as the
estimate's real spread; above 1: conservative). Scenarios: per-image values of one seed
(binary flips and a continuous change), and of S seeds x images with binary values (the
seed x image noise of per-image binary metrics), with and without a seed effect, and
continuous values dominated by the seed effect.
"""
import argparse

import numpy as np

from evaluate.stats import bootstrap


def binary_seeds(rng, images, seeds, seed_sd, shift=0.1):
  """Per (seed, image) flips: image difficulty U(0.1, 0.7), + shift for B, + a seed effect."""
  difficulty = rng.uniform(0.1, 0.7, images)
  return [(rng.random((seeds, images)) < difficulty + planted
           + rng.normal(0, seed_sd, (seeds, 1))).astype(float)[None]
          for planted in (0.0, shift)]


def continuous_seeds(rng, images, seeds, seed_sd, shift=0.1):
  """Image effect N(0, 1) shared, seed effect N(0, seed_sd), noise N(0, 0.5)."""
  image = rng.normal(0, 1, images)
  return [(image + planted + rng.normal(0, seed_sd, (seeds, 1))
           + rng.normal(0, 0.5, (seeds, images)))[None] for planted in (0.0, shift)]


def one_seed_continuous(rng, images, shift=0.05):
  image = rng.exponential(0.2, images)
  return [(image + planted + rng.normal(0, 0.1, images))[None, None]
          for planted in (0.0, shift)]


SCENARIOS = {
    "1 seed, binary flips": (lambda rng, n: binary_seeds(rng, n, 1, 0.0), 0.1),
    "1 seed, continuous": (one_seed_continuous, 0.05),
    "3 seeds, binary, no seed effect": (lambda rng, n: binary_seeds(rng, n, 3, 0.0), 0.1),
    "3 seeds, binary, seed effect sd 0.03": (lambda rng, n: binary_seeds(rng, n, 3, 0.03), 0.1),
    "3 seeds, continuous, seed effect sd 0.3": (
        lambda rng, n: continuous_seeds(rng, n, 3, 0.3), 0.1),
    "10 seeds, continuous, seed effect sd 0.3": (
        lambda rng, n: continuous_seeds(rng, n, 10, 0.3), 0.1),
}


def plain_multibootstrap(a, b, replicates, seed):
  """(low, high, B - A) of the plain multi-bootstrap, 95% percentile interval (metric 0)."""
  rng = np.random.default_rng(seed)
  images = bootstrap.resample_counts(rng, a.shape[2], replicates) / a.shape[2]
  means = []
  for values in (a[0], b[0]):
    seeds = bootstrap.resample_counts(rng, values.shape[0], replicates) / values.shape[0]
    means.append(np.einsum("rs,sn,rn->r", seeds, values, images))
  low, high = np.quantile(means[1] - means[0], [0.025, 0.975])
  return low, high, b.mean() - a.mean()


def interval(variant, a, b, replicates, seed):
  """(low, high, estimate) of B - A for metric 0 under `variant`."""
  if variant == "plain":
    return plain_multibootstrap(a, b, replicates, seed)
  result = bootstrap.difference_interval(a, b, replicates=replicates, seed=seed,
                                         widen=variant == "default")
  return result.low[0], result.high[0], result.diff[0]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--replications", type=int, default=200)
  parser.add_argument("--images", type=int, default=100)
  parser.add_argument("--variant", choices=("default", "no_widening", "plain"),
                      default="default")
  args = parser.parse_args()
  print(f"| scenario ({args.images} images, {args.replications} replications, "
        f"{args.variant}) | coverage of the 95% interval | width / 3.92 / sd of the estimate |")
  print("|---|---|---|")
  for name, (make_runs, truth) in SCENARIOS.items():
    rng = np.random.default_rng(12345)
    hits, widths, estimates = 0, [], []
    for replication in range(args.replications):
      a, b = make_runs(rng, args.images)
      low, high, estimate = interval(args.variant, a, b, 1000, replication)
      hits += int(low <= truth <= high)
      widths.append(high - low)
      estimates.append(estimate)
    print(f"| {name} | {hits / args.replications:.3f} | "
          f"{np.mean(widths) / 3.92 / np.std(estimates):.2f} |")


if __name__ == "__main__":
  main()
