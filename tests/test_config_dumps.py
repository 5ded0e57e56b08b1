"""Refactors of configs/ change no shipped config (tests/config_dumps.py keeps the record)."""
import json

from tests import config_dumps


def test_every_recorded_config_dumps_as_before():
  """Each config and sweep member recorded before the refactor dumps to the same JSON now."""
  with open(config_dumps.RECORD) as f:
    recorded = json.load(f)
  now = config_dumps.digests(config_dumps.dump_configs())
  missing = sorted(set(recorded) - set(now))
  changed = sorted(name for name in recorded if name in now and now[name] != recorded[name])
  assert not missing and not changed, (
      f"configs that no longer dump as recorded: changed {changed}, missing {missing}")
