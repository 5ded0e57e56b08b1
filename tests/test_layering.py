"""The packages import each other in one direction only (docs/layout.md):

  pipeline/ (train, then evaluate)    above   training/, evaluate/
  training/, evaluate/                above   runtime/ (checkpoints, mesh, run files, ...)
  runtime/                            above   models/, data/, augment/
  common/ (registry, Fourier shift, ...) at the bottom

so training/ and evaluate/ never import each other, and models/ imports none of them. Nothing
of that library imports benchmarks/ or experiments/ (programs on top of it). Inside evaluate/,
the statistics (evaluate/stats/) import of evaluate/ only themselves, evaluate.metrics and
evaluate.json_values, and no JAX or plotting. The
import statements of every module (also those inside functions) are read with ast; nothing is
imported.
"""
import ast
import os

import pytest

from tests.conftest import REPO_ROOT

# package -> the top-level packages its modules must not import. Nothing of the library
# imports the measurement programs (benchmarks/, experiments/) that sit on top of it.
_PROGRAMS = ("benchmarks", "experiments")
_FORBIDDEN = {
    "training": ("evaluate", "pipeline", "sweeps") + _PROGRAMS,
    "evaluate": ("training", "pipeline", "sweeps") + _PROGRAMS,
    "runtime": ("training", "evaluate", "pipeline", "sweeps") + _PROGRAMS,
    "models": ("training", "evaluate", "runtime", "pipeline", "sweeps") + _PROGRAMS,
    "common": ("augment", "data", "models", "training", "evaluate", "runtime", "pipeline",
               "sweeps") + _PROGRAMS,
    "pipeline": ("sweeps",) + _PROGRAMS,
    "sweeps": _PROGRAMS,
}


def imported_packages(source: str) -> set[str]:
  """The top-level names of every absolute import in `source` (at any depth)."""
  names = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names.update(alias.name.split(".")[0] for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      names.add(node.module.split(".")[0])
  return names


def _modules(package: str):
  for directory, _, files in os.walk(os.path.join(REPO_ROOT, package)):
    for name in sorted(files):
      if name.endswith(".py"):
        yield os.path.join(directory, name)


def test_imported_packages_sees_imports_inside_functions():
  source = "import os\nfrom training.state import x\ndef f():\n  import evaluate.run as r\n"
  assert imported_packages(source) == {"os", "training", "evaluate"}


@pytest.mark.parametrize("package", sorted(_FORBIDDEN))
def test_package_does_not_import_the_layers_above_it(package):
  violations = []
  for path in _modules(package):
    with open(path) as f:
      bad = imported_packages(f.read()) & set(_FORBIDDEN[package])
    violations += [f"{os.path.relpath(path, REPO_ROOT)} imports {name}" for name in sorted(bad)]
  assert not violations, violations


# evaluate/stats/ (per-image values, bootstrap, paired comparisons) is a room of its own: of
# the rest of evaluate/ it imports only these (pure NumPy, no JAX, no plotting).
_STATS_MAY_IMPORT = ("evaluate.stats", "evaluate.metrics", "evaluate.json_values")
_STATS_NEVER = ("jax", "flax", "matplotlib", "models", "data", "augment", "runtime")


def test_statistics_import_only_themselves_and_the_metric_definitions():
  violations = []
  for path in _modules(os.path.join("evaluate", "stats")):
    with open(path) as f:
      source = f.read()
    names = set()
    for node in ast.walk(ast.parse(source)):
      if isinstance(node, ast.Import):
        names.update(alias.name for alias in node.names)
      elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names.update([node.module] if node.module != "evaluate" else
                     [f"evaluate.{alias.name}" for alias in node.names])
    bad = sorted(name for name in names
                 if (name.split(".")[0] == "evaluate" and name != "evaluate"
                     and not name.startswith(_STATS_MAY_IMPORT))
                 or name.split(".")[0] in _STATS_NEVER)
    violations += [f"{os.path.relpath(path, REPO_ROOT)} imports {name}" for name in bad]
  assert not violations, violations


def _project_modules_imported(source: str) -> set[str]:
  """Dotted names of the project's own modules that `source` imports (`from a.b import c`
  gives a.b, and a.b.c when that is a module), at any depth."""
  from cifar_invariance.startup import PROJECT_PACKAGES  # pylint: disable=g-import-not-at-top
  names = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      names.add(node.module)
  return {name for name in names if name.split(".")[0] in PROJECT_PACKAGES}


def test_every_import_of_a_project_module_resolves():
  """Benchmarks and scripts are not imported by any test: a moved module must not leave a
  stale import behind in them (or anywhere)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  missing = []
  for top in ("benchmarks", "experiments", "scripts", "tests", "pipeline", "training", "evaluate",
              "runtime", "models", "augment", "data", "sweeps", "common", "configs"):
    for path in _modules(top):
      with open(path) as f:
        for name in sorted(_project_modules_imported(f.read())):
          if importlib.util.find_spec(name) is None:
            missing.append(f"{os.path.relpath(path, REPO_ROOT)}: {name}")
  assert not missing, missing
