"""What may change when a run resumes: the config saved with its checkpoint against the new one.

Fields that only decide what is logged, checkpointed or evaluated, or where the same data are
read from (FREE_FIELDS), may change at every resume. Every other field changes the trained
run: optimiser, schedule, length, batch size, seed, data, augmentation, model. A resume whose
config differs in such a field is refused with each field `old -> new`, unless the new
config names the field (or a section above it) in `config.resume.allow_changes`, e.g.

  python train.py ... --config.train.num_epochs=60 --config.resume.allow_changes=train.num_epochs

Every resume is logged in config.json (runtime.run_files.append_resume) with what changed.
A field that only the new config has (an option added to the project since the run was saved)
is compared with its default, the value the saved run effectively used: for model options
models.complete_saved_options' (the legacy value or the factory default), for every other
field configs/default.py's (which builds the data, augment and eval sections with their
default builders). A new field equal to its default resumes silently; any other value is a
change like any other. Fields without a known default, and fields only the saved config has
(options removed since), are not compared.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping
from typing import Any, Optional

import ml_collections

import models
from common.errors import ConfigError
from runtime.run_config import load_run_config

# Dotted prefixes of fields that may change on resume, with why they do not change the run.
FREE_FIELDS: dict[str, str] = {
    "eval": "the invariance evaluation after training",
    "resume": "these resume options",
    "train.eval_batch_size": "test-accuracy batches",
    "train.eval_every_epochs": "when the test accuracy is measured",
    "train.log_every_steps": "when metrics are logged",
    "train.checkpoint_every_steps": "when checkpoints are written",
    "train.keep_checkpoints": "how many checkpoints are kept",
    "train.deterministic_gpu_ops": "how GPU reductions are ordered, not what is computed",
    "data.dir": "where the same data are read from",
    "data.cache_dir": "where decoded data are cached",
    "data.tfds_data_dir": "where TFDS keeps the data",
    "data.tfds_probe_timeout_s": "how long to wait for the TFDS hosts",
    "data.test_subset": "the test set only",
}
# The config field that names run-changing fields a resume may change anyway.
ALLOW_FIELD = "resume.allow_changes"
# After the old value of a field the saved config lacks, in the refusal message.
_DEFAULTED = " (its default: the saved config predates the field)"


class ConfigMismatchError(ConfigError):
  """The workdir's checkpoint was trained with a config that differs in run-changing fields."""


@dataclasses.dataclass
class ConfigChanges:
  """Fields whose values differ between the saved and the new config: dotted name ->
  (old, new), split into `free` (FREE_FIELDS), `allowed` (named in resume.allow_changes) and
  `refused`; `not_compared`: fields only one side has and that have no known default;
  `defaulted`: fields the saved config lacks, whose old value is their default."""
  free: dict[str, tuple[Any, Any]]
  allowed: dict[str, tuple[Any, Any]]
  refused: dict[str, tuple[Any, Any]]
  not_compared: list[str]
  defaulted: list[str] = dataclasses.field(default_factory=list)

  def log_entry(self) -> dict[str, Any]:
    """What the resume log in config.json records: {'changed': {field: [old, new]},
    'allowed_by_override': [...]} over the free and the allowed fields."""
    changed = {**self.free, **self.allowed}
    return {"changed": {name: list(values) for name, values in sorted(changed.items())},
            "allowed_by_override": sorted(self.allowed)}


def _as_json(config: Mapping[str, Any] | ml_collections.ConfigDict) -> dict:
  if isinstance(config, ml_collections.ConfigDict):
    return json.loads(config.to_json())
  return json.loads(json.dumps(dict(config)))


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """{'a.b.c': value} of a nested dict; lists and tuples are values (compared whole)."""
  flat = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, Mapping) and value:
      flat.update(flatten(value, name + "."))
    else:
      flat[name] = value
  return flat


def _under(name: str, prefixes) -> bool:
  return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def allowed_changes(config: Mapping[str, Any] | ml_collections.ConfigDict) -> list[str]:
  """The fields and sections named in `config.resume.allow_changes` (comma-separated), each
  checked to exist in `config`.

  Raises:
    ValueError: a name that is not a field or section of the config.
  """
  tree = _as_json(config)
  text = str(tree.get("resume", {}).get("allow_changes", "") or "")
  names = [name.strip() for name in text.split(",") if name.strip()]
  fields = flatten(tree)
  for name in names:
    if name not in fields and not any(field.startswith(name + ".") for field in fields):
      raise ConfigError(f"config.{ALLOW_FIELD} names {name!r}, which is not a field or section "
                        "of the config (write dotted names such as train.num_epochs or train).")
  return names


def default_fields() -> dict[str, Any]:
  """Every field of configs/default.py, flattened (dotted name -> JSON value): the value a run
  saved before the field existed effectively used."""
  # configs/ is read here only, for its defaults (it builds config.eval with evaluate.config's
  # builder, which imports nothing of the project).
  from configs import default  # pylint: disable=g-import-not-at-top
  return flatten(_as_json(default.get_config()))


def compare(saved: Mapping[str, Any], new: Mapping[str, Any] | ml_collections.ConfigDict,
            defaults: Optional[Mapping[str, Any]] = None) -> ConfigChanges:
  """Sorts the differences between a saved config (JSON dict) and the new config; a field only
  the new config has is compared with `defaults[field]` (dotted name -> value; None:
  default_fields()), and not compared where it has no default."""
  saved, new = _as_json(saved), _as_json(new)
  # Model options the saved run predates count as their legacy value on both sides.
  saved["model"] = models.complete_saved_options(saved.get("model", {}))
  new["model"] = models.complete_saved_options(new.get("model", {}))
  saved, new = _as_json(saved), _as_json(new)  # (defaults filled in may be tuples)
  allow = allowed_changes(new)
  old_fields, new_fields = flatten(saved), flatten(new)
  defaults = default_fields() if defaults is None else dict(defaults)
  changes = ConfigChanges(free={}, allowed={}, refused={}, not_compared=[])
  for name in sorted(set(old_fields) | set(new_fields)):
    if name not in new_fields or (name not in old_fields and name not in defaults):
      if not _under(name, FREE_FIELDS):
        changes.not_compared.append(name)
      continue
    if name not in old_fields:
      changes.defaulted.append(name)
    old, now = old_fields.get(name, defaults.get(name)), new_fields[name]
    if old == now:
      continue
    if _under(name, FREE_FIELDS):
      changes.free[name] = (old, now)
    elif _under(name, allow):
      changes.allowed[name] = (old, now)
    else:
      changes.refused[name] = (old, now)
  return changes


def check_resume(saved: Optional[Mapping[str, Any]], new: ml_collections.ConfigDict, *,
                 step: Optional[int] = None, source: str = "the checkpoint") -> ConfigChanges:
  """Refuses to resume a run saved with `saved` under the config `new` if a run-changing field
  differs and is not named in new.resume.allow_changes.

  Args:
    saved: the saved config (JSON dict); None = unknown (nothing is compared).
    step, source: name the checkpoint in the message.
  Raises:
    ConfigMismatchError listing every refused field as `old -> new`.
  """
  if saved is None:
    allowed_changes(new)  # still check the option's names
    return ConfigChanges(free={}, allowed={}, refused={}, not_compared=[])
  changes = compare(saved, new)
  if changes.refused:
    where = f"{source} (step {step})" if step is not None else source
    raise ConfigMismatchError(
        f"This workdir holds a run trained with a different config; resuming would change "
        f"it. Saved in {where} -> now:\n  "
        + "\n  ".join(f"{name}: {old!r}{_DEFAULTED if name in changes.defaulted else ''} "
                      f"-> {now!r}" for name, (old, now) in changes.refused.items())
        + "\nUse a new --workdir, or the saved values, or name the fields you mean to change: "
        f"--config.{ALLOW_FIELD}={','.join(changes.refused)}")
  return changes


def describe(changes: ConfigChanges) -> Optional[str]:
  """One line naming what changed on resume (None if nothing did)."""
  parts = [f"{name} {old!r} -> {now!r}"
           for name, (old, now) in {**changes.allowed, **changes.free}.items()]
  if not parts:
    return None
  return "changed on resume: " + "; ".join(parts)


def saved_config(workdir: str, item: Optional[dict]) -> tuple[Optional[dict], str]:
  """(config, where it is from) to compare a resume with: the checkpoint's own config item, or,
  for a checkpoint saved without one, config.json (with its resume log applied); (None,
  ...) if neither exists."""
  if item is not None:
    return item, "the checkpoint"
  try:
    return json.loads(load_run_config(workdir).to_json()), "config.json"
  except FileNotFoundError:
    return None, "nothing"


def resume_entry(step: int, changes: ConfigChanges, *, num_devices: int) -> dict[str, Any]:
  """The resume log entry of config.json: when, from which step, on how many devices, and
  which fields changed (old, new)."""
  return {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
          "from_step": int(step), "num_devices": int(num_devices), **changes.log_entry()}
