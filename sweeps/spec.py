"""Expands a sweep config into its members: one run config and one directory name each.

Members = `members` (families of settings) x the Cartesian product of `product` x `seeds`,
in that order of nesting (the seed varies fastest). A member's name is its settings as
`key=value` joined by ',' (the key is the last component of the dotted path, or the whole path
where two settings would share it), followed by `seed=N`; a family with a label shows the
label instead of its own settings (product settings still follow): e.g.
`downsize_embed,min_size=24,seed=1`. Names are directory names, so
characters other than letters, digits and `._=+-` in values become '+' (`crop,flip` ->
`crop+flip`) and the empty string becomes `none`. The same member always gets the same name,
whatever other members the sweep holds, so a sweep can grow without renaming finished runs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from common.errors import ConfigError

LABEL_KEY = "label"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")


@dataclasses.dataclass(frozen=True)
class SweepMember:
  """One run of a sweep.

  Attributes:
    index: position in the expansion, 0-based (what `sweep.py --index` takes).
    name: its sub-directory of the sweep workdir.
    group: the name without the seed: members that differ only by seed share it.
    seed: config.seed of the run.
    settings: dotted path -> value, everything this member sets on the base config (family
      settings, then product axes), without the seed.
    config: the complete run config.
  """
  index: int
  name: str
  group: str
  seed: int
  settings: dict[str, Any]
  config: ml_collections.ConfigDict

  def fingerprint(self) -> str:
    """sha256 of the run config: a finished member is rerun only if its config changed."""
    return hashlib.sha256(self.config.to_json(sort_keys=True).encode()).hexdigest()


def format_value(value: Any) -> str:
  """A setting value as it appears in a directory name (module docstring)."""
  if isinstance(value, (tuple, list)):
    text = "+".join(format_value(v) for v in value)
  elif isinstance(value, bool):
    text = str(value).lower()
  else:
    text = str(value)
  return _UNSAFE.sub("+", text) if text else "none"


def _short_keys(paths: Sequence[str]) -> dict[str, str]:
  """path -> its last component, or the whole path where the last components collide."""
  last = [path.rsplit(".", 1)[-1] for path in paths]
  return {path: (short if last.count(short) == 1 else path) for path, short in zip(paths, last)}


def _parent_and_field(config: ml_collections.ConfigDict, path: str,
                      where: str) -> tuple[ml_collections.ConfigDict, str]:
  """The section holding the field `path` names, and the field's name.

  Raises:
    ValueError: the config has no such field; lists the fields where the path goes wrong.
  """
  node = config
  parts = path.split(".")
  for depth, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      parent = ".".join(parts[:depth]) or "the run config"
      known = (", ".join(sorted(node.keys())) if isinstance(node, ml_collections.ConfigDict)
               else "none: it is not a section")
      raise ConfigError(f"{where}: {path!r} is not a field of the base config ({parent!r} has "
                        f"no {part!r}; its fields: {known}).")
    if depth < len(parts) - 1:
      node = node[part]
  return node, parts[-1]


def apply_settings(config: ml_collections.ConfigDict, settings: Mapping[str, Any],
                   where: str = "sweep") -> ml_collections.ConfigDict:
  """A copy of `config` with every dotted path of `settings` set.

  Raises:
    ValueError: a path the config does not have, or a value of the wrong type.
  """
  config = ml_collections.ConfigDict(config.to_dict(preserve_field_references=False))
  for path, value in settings.items():
    parent, field = _parent_and_field(config, path, where)
    try:
      parent[field] = value
    except TypeError as error:
      raise ConfigError(f"{where}: cannot set {path!r} to {value!r}: {error}") from error
  return config


def _as_settings(entry: Any, where: str) -> dict[str, Any]:
  if isinstance(entry, ml_collections.ConfigDict):
    entry = entry.to_dict()
  if not isinstance(entry, Mapping):
    raise ConfigError(f"{where} must be a dict of dotted.path -> value, got {entry!r}")
  return dict(entry)


def _product_axes(product: Any) -> list[tuple[str, tuple]]:
  axes = []
  for position, axis in enumerate(product or ()):
    if (not isinstance(axis, (tuple, list)) or len(axis) != 2 or not isinstance(axis[0], str)
        or not isinstance(axis[1], (tuple, list))):
      raise ConfigError(f"sweep.product[{position}] must be a (dotted.path, values) pair with a "
                        f"list or tuple of values, got {axis!r}")
    if not axis[1]:
      raise ConfigError(f"sweep.product[{position}] ({axis[0]}) has no values.")
    axes.append((axis[0], tuple(axis[1])))
  paths = [path for path, _ in axes]
  if len(set(paths)) != len(paths):
    raise ConfigError(f"sweep.product names a path twice: {paths}")
  return axes


def _seeds(seeds: Any) -> tuple[int, ...]:
  seeds = (seeds,) if isinstance(seeds, int) else tuple(seeds)
  if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
    raise ConfigError(f"sweep.seeds must be a non-empty list of integers, got {seeds!r}")
  if len(set(seeds)) != len(seeds):
    raise ConfigError(f"sweep.seeds repeats a seed: {seeds}")
  return seeds


def expand_sweep(sweep: ml_collections.ConfigDict) -> list[SweepMember]:
  """Every member of `sweep` (sweeps.config), in order, each with its complete run config.

  Raises:
    ValueError: a malformed sweep config, a setting path the base config lacks, a value of
      the wrong type, a seed set by a family or axis (use `seeds`), or two members with the
      same name (give the families distinct labels).
  """
  families = [_as_settings(entry, f"sweep.members[{i}]")
              for i, entry in enumerate(sweep.members or [{}])]
  axes = _product_axes(sweep.product)
  seeds = _seeds(sweep.seeds)
  axis_paths = [path for path, _ in axes]
  members = []
  for family_index, family in enumerate(families):
    label = family.pop(LABEL_KEY, None)
    if label is not None and not str(label):
      raise ConfigError(f"sweep.members[{family_index}].label is empty.")
    overlap = sorted(set(family) & set(axis_paths))
    if overlap:
      raise ConfigError(f"sweep.members[{family_index}] sets {overlap}, which sweep.product "
                        "also varies.")
    for point in itertools.product(*(values for _, values in axes)):
      settings = {**family, **dict(zip(axis_paths, point))}
      if "seed" in settings:
        raise ConfigError("Set seeds with sweep.seeds, not as a member setting.")
      named = settings if label is None else dict(zip(axis_paths, point))
      shown = _short_keys(list(named))
      parts = ([format_value(label)] if label is not None else []) + [
          f"{shown[path]}={format_value(value)}" for path, value in named.items()]
      group = ",".join(parts) or "base"
      for seed in seeds:
        where = f"sweep member {group},seed={seed}"
        config = apply_settings(sweep.base, settings, where)
        config.seed = seed
        members.append(SweepMember(
            index=len(members), name=f"{group},seed={seed}", group=group, seed=seed, settings=settings, config=config))
  names = [member.name for member in members]
  repeated = sorted({name for name in names if names.count(name) > 1})
  if repeated:
    raise ConfigError(f"Two sweep members share the name(s) {repeated}: give the families in "
                      "sweep.members distinct 'label's.")
  return members
