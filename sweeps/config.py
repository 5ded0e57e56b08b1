"""`default_sweep_config(base)`: the fields of a sweep config (configs/sweeps/*.py)."""
from __future__ import annotations

import ml_collections


def default_sweep_config(base: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A sweep over `base` with one member (seed 0) until `members`/`product`/`seeds` are set.

  Settings are written as {"dotted.path": value} over the run config, e.g.
  {"augment.downsize_embed.min_size": 24}; a path the base config lacks is an error.
  Members = every entry of `members` x every point of the product of `product` x `seeds`.
  """
  sweep = ml_collections.ConfigDict()
  # The run config every member starts from (a whole configs/*.py config, so that any field
  # can be overridden for every member on the command line: --config.base.train.num_epochs=2).
  sweep.base = base
  # A list of settings dicts, one per member family; the optional key "label" names the
  # family in directory names and legends (default: its settings, e.g. "policies=none").
  sweep.members = [{}]
  # A list of (dotted.path, values) axes whose Cartesian product is applied to every entry
  # of `members`, e.g. [("model.blur_size", (1, 3, 5, 7))]. Empty = no product.
  sweep.product = []
  # One run per seed for every member (sets config.seed); curves show the mean over seeds
  # and their spread.
  sweep.seeds = (0,)
  # Evaluate each member's invariance (base.eval protocols) right after it trains.
  sweep.evaluate = True
  return sweep
