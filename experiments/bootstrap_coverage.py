"""Simulated coverage of evaluate.stats.bootstrap's intervals (numbers: docs/evaluation.md).

  python -m experiments.bootstrap_coverage [--replications 200] [--images 100] [--variant plain]
  python -m experiments.bootstrap_coverage --replications 200 --resamples 1000 --images 8 20 40
  python -m experiments.bootstrap_coverage --replications 500 --only "seeds, binary" \
      "seeds, continuous" [--pair_seeds]

--variant: 'default' (evaluate.stats.bootstrap.difference_interval as `python -m evaluate.compare`
uses it: widened by t / z, clipped to the possible range), 'no_widening' (the same without the
t / z widening), 'plain' (the plain multi-bootstrap: every replicate the mean over resampled
seeds and resampled images, the seed means resampled as they are, no widening; images shared by
A and B as in the default).

For each scenario and number of images, draws `replications` pairs of runs with a known true
difference and a known mean of B, computes the 95% interval of B - A (`--resamples` resamples)
and prints one table per number of images: the fraction of intervals of B - A that hold the
true difference; the mean interval width / 3.92 divided by the standard deviation of the
estimated difference over the replications (1.0: as wide as the estimate's real spread; above
1: conservative); the fraction of B's own intervals (b_ci_*, default variant) that hold B's
true mean; and the fraction of B's own intervals that the clipping to [0, 1] changed (they
reached an impossible value before it). Scenarios: per-image values of one seed (binary flips
and a continuous change), of S seeds x images with binary values (the seed x image noise of
per-image binary metrics), with and without a seed effect, continuous values dominated by the
seed effect, and rare events: flip rates near 0 (one run never flipping, or both rarely) and
accuracies near 1, where an image's rate is the mean rate times U(0, 2); and seeds that share
a per-seed effect between A and B (seed j of both trained with the same config.seed: the same
data order and initialisation of common parameters), which --pair_seeds (the seeds of A and B
resampled jointly, as `--pair_seeds` of evaluate.compare) should keep covered and narrow.
--only keeps the scenarios whose name holds one of the given texts.
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


def shared_seed_continuous(rng, images, seeds, shared_sd, own_sd=0.1, shift=0.1):
  """As continuous_seeds, with a seed effect N(0, shared_sd) that seed j of A and seed j of B
  share, plus each run's own N(0, own_sd)."""
  image = rng.normal(0, 1, images)
  shared = rng.normal(0, shared_sd, (seeds, 1))
  return [(image + planted + shared + rng.normal(0, own_sd, (seeds, 1))
           + rng.normal(0, 0.5, (seeds, images)))[None] for planted in (0.0, shift)]


def shared_seed_binary(rng, images, seeds, shared_sd, shift=0.1):
  """As binary_seeds, with a seed effect N(0, shared_sd) on the flip rate that seed j of A and
  seed j of B share."""
  difficulty = rng.uniform(0.1, 0.7, images)
  shared = rng.normal(0, shared_sd, (seeds, 1))
  return [(rng.random((seeds, images)) < difficulty + planted + shared).astype(float)[None]
          for planted in (0.0, shift)]


def one_seed_continuous(rng, images, shift=0.05):
  image = rng.exponential(0.2, images)
  return [(image + planted + rng.normal(0, 0.1, images))[None, None]
          for planted in (0.0, shift)]


def rare_events(rng, images, seeds, rate_a, rate_b, complement=False):
  """Per (seed, image) events with image i's rate r U_i (U_i ~ U(0, 2), shared by A and B; r
  = rate_a for A, rate_b for B, so the mean rates are rate_a and rate_b); with complement,
  1 - event (an accuracy near 1)."""
  scale = rng.uniform(0.0, 2.0, images)
  out = []
  for rate in (rate_a, rate_b):
    events = (rng.random((seeds, images)) < rate * scale).astype(float)
    out.append((1.0 - events if complement else events)[None])
  return out


# name -> (make_runs(rng, images), true B - A, true mean of B or None where it is not a
# proportion, so B's own interval is not counted).
SCENARIOS = {
    "1 seed, binary flips": (lambda rng, n: binary_seeds(rng, n, 1, 0.0), 0.1, 0.5),
    "1 seed, continuous": (one_seed_continuous, 0.05, None),
    "3 seeds, binary, no seed effect": (lambda rng, n: binary_seeds(rng, n, 3, 0.0), 0.1, 0.5),
    "3 seeds, binary, seed effect sd 0.03": (lambda rng, n: binary_seeds(rng, n, 3, 0.03),
                                             0.1, 0.5),
    "3 seeds, continuous, seed effect sd 0.3": (
        lambda rng, n: continuous_seeds(rng, n, 3, 0.3), 0.1, None),
    "10 seeds, continuous, seed effect sd 0.3": (
        lambda rng, n: continuous_seeds(rng, n, 10, 0.3), 0.1, None),
    "1 seed, rare flips 0.02 vs 0.06": (lambda rng, n: rare_events(rng, n, 1, 0.02, 0.06),
                                        0.04, 0.06),
    "3 seeds, rare flips 0.02 vs 0.06": (lambda rng, n: rare_events(rng, n, 3, 0.02, 0.06),
                                         0.04, 0.06),
    "3 seeds, A never flips, B 0.03": (lambda rng, n: rare_events(rng, n, 3, 0.0, 0.03),
                                       0.03, 0.03),
    "1 seed, accuracy near 1: 0.97 vs 0.92": (
        lambda rng, n: rare_events(rng, n, 1, 0.03, 0.08, complement=True), -0.05, 0.92),
    "3 seeds, accuracy near 1: 0.97 vs 0.92": (
        lambda rng, n: rare_events(rng, n, 3, 0.03, 0.08, complement=True), -0.05, 0.92),
    "3 seeds, binary, shared seed effect sd 0.05": (
        lambda rng, n: shared_seed_binary(rng, n, 3, 0.05), 0.1, 0.5),
    "3 seeds, continuous, shared seed effect sd 0.3": (
        lambda rng, n: shared_seed_continuous(rng, n, 3, 0.3), 0.1, None),
    "10 seeds, continuous, shared seed effect sd 0.3": (
        lambda rng, n: shared_seed_continuous(rng, n, 10, 0.3), 0.1, None),
    "3 seeds, continuous, shared seed effect sd 0.3, none own": (
        lambda rng, n: shared_seed_continuous(rng, n, 3, 0.3, own_sd=0.0), 0.1, None),
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


def interval(variant, a, b, replicates, seed, pair_seeds=False):
  """(low, high, estimate, B's own (low, high) or None) of B - A for metric 0 under
  `variant` (pair_seeds: seed j of A and B resampled jointly)."""
  if variant == "plain":
    return (*plain_multibootstrap(a, b, replicates, seed), None)
  proportion = bool(np.all((a >= 0) & (a <= 1)) and np.all((b >= 0) & (b <= 1)))
  result = bootstrap.difference_interval(a, b, replicates=replicates, seed=seed,
                                         widen=variant == "default",
                                         bounds=(0.0, 1.0) if proportion else None,
                                         pair_seeds=pair_seeds)
  return result.low[0], result.high[0], result.diff[0], (result.b.low[0], result.b.high[0])


def unclipped_own_interval(b, replicates, seed):
  """B's own interval (low, high) without the clipping (to count impossible bounds)."""
  result = bootstrap.mean_interval(b, replicates=replicates, seed=seed)
  return result.low[0], result.high[0]


def scenario_row(name, images, args):
  """One table row: coverage of B - A, width ratio, coverage of B's own interval, share of B's
  own intervals the clipping changed."""
  make_runs, truth, truth_b = SCENARIOS[name]
  rng = np.random.default_rng(12345)
  hits, widths, estimates, own_hits, clipped = 0, [], [], 0, 0
  for replication in range(args.replications):
    a, b = make_runs(rng, images)
    low, high, estimate, own = interval(args.variant, a, b, args.resamples, replication,
                                        args.pair_seeds)
    hits += int(low <= truth <= high)
    widths.append(high - low)
    estimates.append(estimate)
    if own is not None and truth_b is not None:
      own_hits += int(own[0] <= truth_b <= own[1])
      free = unclipped_own_interval(b, args.resamples, replication)
      clipped += int(free[0] < 0 or free[1] > 1)
  spread = np.std(estimates)
  ratio = f"{np.mean(widths) / 3.92 / spread:.2f}" if spread > 0 else "n/a"
  counted = truth_b is not None and args.variant != "plain"
  own = (f"{own_hits / args.replications:.3f} | {clipped / args.replications:.2f}"
         if counted else "n/a | n/a")
  return f"| {name} | {hits / args.replications:.3f} | {ratio} | {own} |"


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--replications", type=int, default=200)
  parser.add_argument("--resamples", type=int, default=1000)
  parser.add_argument("--images", type=int, nargs="+", default=[100])
  parser.add_argument("--variant", choices=("default", "no_widening", "plain"),
                      default="default")
  parser.add_argument("--pair_seeds", action="store_true",
                      help="resample the seeds of A and B jointly (seed j with seed j)")
  parser.add_argument("--only", nargs="+", default=[""],
                      help="only the scenarios whose name holds one of these")
  args = parser.parse_args()
  if args.pair_seeds and args.variant == "plain":
    parser.error("--pair_seeds applies to the default and no_widening variants")
  names = [name for name in SCENARIOS if any(part in name for part in args.only)]
  if not names:
    parser.error(f"--only {args.only!r} matches no scenario: {', '.join(SCENARIOS)}")
  pairing = ", seeds paired" if args.pair_seeds else ""
  for images in args.images:
    print(f"| scenario ({images} images, {args.replications} replications, {args.resamples} "
          f"resamples, {args.variant}{pairing}) | coverage of B - A | width / 3.92 / sd of the "
          "estimate | coverage of B's own interval | B's own interval clipped |")
    print("|---|---|---|---|---|")
    for name in names:
      print(scenario_row(name, images, args), flush=True)
    print()


if __name__ == "__main__":
  main()
