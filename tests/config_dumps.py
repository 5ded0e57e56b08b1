"""Every shipped config, dumped as JSON: the record that refactors of configs/ change nothing.

`dump_configs()` runs `get_config(arg)` of every run config and sweep config in configs/ for
every argument it takes, and expands each sweep into its members' run configs, each dumped as
JSON with sorted keys; tests/data/config_dumps.json holds the sha256 of each dump, written by
  python -m tests.config_dumps --write
from the commit before a refactor. tests/test_config_dumps.py checks that the configs of the
working tree still dump to the same text (arguments added since then are not in the record).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORD = os.path.join(REPO_ROOT, "tests", "data", "config_dumps.json")

# Config file (relative to the repository) -> the arguments it is dumped with.
_FIG10 = [f"{aug}{scale}" for aug in ("none", "downsize_embed", "upscale_crop")
          for scale in ("", ",cpu", ",cpu_seeds", ",cpu_trained")]
RUN_CONFIGS = {
    "configs/default.py": [""], "configs/alexnet.py": [""], "configs/nostride.py": [""],
    "configs/blurpool.py": [""], "configs/resnet18.py": [""], "configs/quickstart.py": [""],
    "configs/fast.py": ["", "resnet20", "resnet18", "alexnet", "nostride"],
    "configs/fig10_augmentation.py": _FIG10,
    "configs/vit.py": [""], "configs/cct.py": [""],
    "configs/afvit.py": [""],
}
SWEEP_CONFIGS = {
    "configs/sweeps/augment_range.py": ["", "cpu", "cpu_trained"],
    "configs/sweeps/beyond_blurpool.py": ["", "cpu", "cpu_seeds"],
    "configs/sweeps/blurpool_filters.py": ["", "cpu", "cpu_seeds"],
    "configs/sweeps/fig10_augmentation.py": ["", "cpu", "cpu_seeds"],
    "configs/sweeps/stride_vs_nostride.py": ["", "cpu", "cpu_seeds"],
    "configs/sweeps/transformers.py": ["", "cpu", "cpu_seeds"],
}


def _load(path: str, arg: str):
  from common.config_files import load_config_file  # pylint: disable=import-outside-toplevel
  return load_config_file(os.path.join(REPO_ROOT, path) + (f":{arg}" if arg else ""))


def dump_configs() -> dict[str, str]:
  """name ('path:arg', and 'path:arg member NAME' for sweep members) -> sorted-key JSON."""
  from sweeps import expand_sweep  # pylint: disable=import-outside-toplevel
  dumps = {}
  for path, args in RUN_CONFIGS.items():
    for arg in args:
      dumps[f"{path}:{arg}"] = _load(path, arg).to_json(sort_keys=True)
  for path, args in SWEEP_CONFIGS.items():
    for arg in args:
      sweep = _load(path, arg)
      dumps[f"{path}:{arg}"] = sweep.to_json(sort_keys=True)
      for member in expand_sweep(sweep):
        dumps[f"{path}:{arg} member {member.name}"] = member.config.to_json(sort_keys=True)
  return dumps


def digests(dumps: dict[str, str]) -> dict[str, str]:
  """name -> sha256 hex digest of its dump."""
  return {name: hashlib.sha256(text.encode()).hexdigest() for name, text in dumps.items()}


if __name__ == "__main__":
  if sys.argv[1:] != ["--write"]:
    sys.exit("usage: python -m tests.config_dumps --write")
  sys.path.insert(0, REPO_ROOT)
  with open(RECORD, "w") as f:
    json.dump(digests(dump_configs()), f, indent=0, sort_keys=True)
  print(f"wrote {RECORD}")
