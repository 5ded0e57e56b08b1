"""What every command does before it imports the project: checks the project's top-level
names, and finds the shipped config files.

The project installs top-level packages with generic names (PROJECT_PACKAGES). Another
distribution may install a package of the same name (Hugging Face's `evaluate` is one), or a
directory on PYTHONPATH or the current directory (for `python -m`) may hold one; Python then
imports whichever comes first on sys.path, and the project would fail later with a confusing
ImportError or, worse, run someone else's code. `foreign_modules()` locates each name's module
without importing it and compares its location with this project's root.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from typing import Optional

# Top-level packages and modules of this project (pyproject.toml installs exactly these, plus
# cifar_invariance itself; tests/test_package.py checks that the two lists agree).
PROJECT_PACKAGES = ("augment", "benchmarks", "common", "configs", "data", "evaluate",
                    "experiments", "models", "pipeline", "runtime", "sweeps", "training")
PROJECT_MODULES = ("sweep", "train")
# The name of this project's distribution (pyproject.toml [project] name).
DISTRIBUTION = "cifar-invariance"
# Command-line flags whose value is a config file path, optionally followed by ':arg'.
CONFIG_FLAGS = ("config",)


def project_root() -> str:
  """The directory that holds this project's top-level packages (the checkout, or
  site-packages for a non-editable install)."""
  return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


@dataclasses.dataclass(frozen=True)
class ForeignModule:
  """A project name that resolves elsewhere: `location` is the file or directory Python would
  import (None: the name is not importable at all), `distributions` the installed
  distributions other than this project that declare this top-level name."""
  name: str
  location: Optional[str]
  distributions: tuple[str, ...]


def _module_root(name: str, spec) -> Optional[str]:
  """The directory a top-level module or package was found in (None if unknown)."""
  if spec is None:
    return None
  if spec.origin and spec.origin not in ("namespace", "built-in", "frozen"):
    origin = os.path.realpath(spec.origin)
    return os.path.dirname(os.path.dirname(origin) if spec.submodule_search_locations
                           else origin)
  locations = list(spec.submodule_search_locations or [])
  return os.path.dirname(os.path.realpath(locations[0])) if locations else None


def _location(spec) -> Optional[str]:
  if spec is None:
    return None
  if spec.origin and spec.origin not in ("namespace", "built-in", "frozen"):
    return spec.origin
  locations = list(spec.submodule_search_locations or [])
  return f"{locations[0]} (a directory without __init__.py)" if locations else spec.origin


def foreign_modules(names: Sequence[str] = PROJECT_PACKAGES + PROJECT_MODULES,
                    root: Optional[str] = None) -> list[ForeignModule]:
  """The project names that would not import this project's code (in `names` order).

  A name already imported is judged by the module in sys.modules; any other by
  importlib.util.find_spec, which for a top-level name searches sys.path without importing.
  """
  root = os.path.realpath(root or project_root())
  foreign = []
  for name in names:
    try:
      spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
      spec = None
    if _module_root(name, spec) == root:
      continue
    foreign.append(ForeignModule(name, _location(spec), _distributions_of(name)))
  return foreign


def _distributions_of(name: str) -> tuple[str, ...]:
  """Installed distributions other than this project that provide top-level `name`."""
  try:
    providers = importlib.metadata.packages_distributions().get(name, [])
  except Exception:  # pylint: disable=broad-except  (metadata of other packages can be broken)
    return ()
  own = DISTRIBUTION.replace("-", "_").lower()
  return tuple(sorted({p for p in providers if p.replace("-", "_").lower() != own}))


def _search_path_entry(location: str) -> str:
  """Which kind of sys.path entry `location` comes from, for the message."""
  where = os.path.realpath(location.split(" (")[0])
  if where.startswith(os.path.realpath(os.getcwd()) + os.sep):
    return " (in the current directory)"
  for entry in filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)):
    if where.startswith(os.path.realpath(entry) + os.sep):
      return f" (from PYTHONPATH entry {entry})"
  return ""


def foreign_module_message(foreign: Sequence[ForeignModule], root: Optional[str] = None) -> str:
  """The error message for `foreign` (non-empty): what was found, where, and what to do."""
  root = root or project_root()
  lines = [f"error: this project's modules are in {root}, but Python would import:"]
  distributions = sorted({d for module in foreign for d in module.distributions})
  for module in foreign:
    if module.location is None:
      lines.append(f"  {module.name!r}: nothing (not found on sys.path: an incomplete install; "
                   "reinstall with `pip install -e .` or `pip install .` from the checkout)")
      continue
    origin = (f"; the distribution(s) {', '.join(module.distributions)} install this name"
              if module.distributions else "")
    lines.append(f"  {module.name!r} from {module.location}"
                 f"{_search_path_entry(module.location)}{origin}")
  lines += ["Python imports the first module of a name that it finds on sys.path: the current "
            "directory (for `python -m`), then PYTHONPATH, then site-packages. What to do:"]
  if distributions:
    lines.append("  - another installed package uses the name: install this project in a "
                 "virtual environment of its own, or `pip uninstall "
                 f"{' '.join(distributions)}`;")
  lines += ["  - a directory or file of that name in the current directory or on PYTHONPATH: "
            "run from another directory, rename it, or take it off PYTHONPATH;",
            "  - or run from the project's checkout (`python train.py ...`, "
            "`python -m evaluate ...`), whose own modules Python finds first."]
  return "\n".join(lines)


def exit_if_foreign_modules() -> None:
  """Exits with status 2 and foreign_module_message() if any project name is foreign."""
  foreign = foreign_modules()
  if foreign:
    print(foreign_module_message(foreign), file=sys.stderr)
    sys.exit(2)


def resolve_config_path(value: str, root: Optional[str] = None) -> str:
  """`value` ('PATH' or 'PATH:ARG') with PATH made absolute under the project root when it
  does not exist as given but does there; unchanged otherwise.

  So `--config configs/quickstart.py` finds the shipped config from any directory once the
  project is installed; a file of that path in the current directory takes precedence.
  """
  path, colon, arg = value.partition(":")
  if not path or os.path.exists(path) or os.path.isabs(path):
    return value
  shipped = os.path.join(root or project_root(), path)
  return shipped + colon + arg if os.path.isfile(shipped) else value


def resolve_config_arguments(argv: Sequence[str], root: Optional[str] = None) -> list[str]:
  """`argv` with the value of every CONFIG_FLAGS flag passed through resolve_config_path
  ('--config X', '--config=X', single dash too; '--config.field=...' overrides untouched)."""
  resolved = list(argv)
  for i, arg in enumerate(resolved):
    for flag in CONFIG_FLAGS:
      for dashes in ("--", "-"):
        if arg == dashes + flag and i + 1 < len(resolved):
          resolved[i + 1] = resolve_config_path(resolved[i + 1], root)
        elif arg.startswith(f"{dashes}{flag}="):
          resolved[i] = f"{dashes}{flag}=" + resolve_config_path(arg.split("=", 1)[1], root)
  return resolved


def prepare_command_line(argv: Sequence[str]) -> list[str]:
  """For every command, before absl parses its flags (a config file is loaded while flags are
  parsed, and it imports the project): exits if a project name is foreign, then returns
  `argv` with shipped config paths resolved."""
  exit_if_foreign_modules()
  return resolve_config_arguments(argv)


def _config_override(argv: Sequence[str], missing: str) -> Optional[str]:
  """The '--config.a.b=...' argument of `argv` whose path names the field `missing`."""
  for arg in argv[1:]:
    path = arg.lstrip("-").split("=", 1)[0]
    if path.startswith(CONFIG_FLAGS) and missing in path.split(".")[1:]:
      return path
  return None


def exit_on_unknown_config_field(error: Exception, argv: Sequence[str]) -> None:
  """For an AttributeError / KeyError that ml_collections raised while applying a config
  override of a field the config does not have ('--config.model.widht=8'): prints one line
  naming the override (with ml_collections' "Did you mean" where it has one) and exits with
  status 2. Returns (the caller re-raises) if no override of `argv` names the missing field."""
  text = str(error)
  # The field's name is the first word of the message that an override's path names.
  candidates = [(word, _config_override(argv, word)) for word in re.findall(r"\w+", text)]
  found = [(word, path) for word, path in candidates if path is not None]
  if not found:
    return
  missing, path = found[0]
  hint = re.search(r"Did you mean [^'\\]*", text)
  print(f"error: --{path}: the config has no field {missing!r}"
        + (f" ({hint.group(0)})" if hint else "")
        + ". Configs are locked: a misspelt field is an error; a field the config does not "
        "have yet (e.g. a protocol option) goes in a config file.", file=sys.stderr)
  sys.exit(2)


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl's flag parsing, as `app.run(..., flags_parser=parse_flags)`, where a config override
  of a field the config does not have is one line and exit status 2
  (exit_on_unknown_config_field) instead of absl's traceback."""
  from absl import app  # pylint: disable=g-import-not-at-top
  try:
    return app.parse_flags_with_usage(list(argv))
  except (AttributeError, KeyError) as error:
    exit_on_unknown_config_field(error, argv)
    raise


def define_config_file(name: str, default: Optional[str], help_text: str, **options):
  """ml_collections' DEFINE_config_file for a flag with a default config: that default is
  loaded, and sys.argv's overrides applied, when the flag is defined (at import), so an
  override of a missing field fails there; it gets the one-line message of parse_flags."""
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  try:
    return config_flags.DEFINE_config_file(name, default, help_text, **options)
  except (AttributeError, KeyError) as error:
    exit_on_unknown_config_field(error, sys.argv)
    raise
