"""No function of the project's own code is longer than MAX_FUNCTION_LINES lines (from its
`def` line, decorators excluded, to its last line, docstring included), so that each reads at a
glance and is split into named steps.

Outside the rule: tests/, the config files of configs/ and the functions that only build a
default config (data, listed in _CONFIG_BUILDERS). Every file is parsed with ast; nothing is
imported and no process is started.
"""
import ast
import os

from tests.conftest import REPO_ROOT

MAX_FUNCTION_LINES = 80

# Top-level folders outside the rule (besides hidden ones such as .venv and .git).
_EXCLUDED_FOLDERS = ("tests", "configs", "build", "runs")
# (path from the repository root, function name): functions that only build a default config.
_CONFIG_BUILDERS = {
    ("evaluate/layers/config.py", "default_layers_config"),
}


def _project_files():
  """Paths (relative to the repository root, '/'-separated) of the project's .py files."""
  for directory, folders, files in os.walk(REPO_ROOT):
    relative = os.path.relpath(directory, REPO_ROOT)
    if relative == ".":
      folders[:] = [name for name in folders if name not in _EXCLUDED_FOLDERS]
    folders[:] = sorted(name for name in folders
                        if not name.startswith((".", "__")) and not name.endswith(".egg-info"))
    for name in sorted(files):
      if name.endswith(".py"):
        yield os.path.normpath(os.path.join(relative, name)).replace(os.sep, "/")


def long_functions(source: str, path: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
  """'path:line name (N lines)' for each function or method of `source` longer than `limit`
  lines, nested ones included, except those listed in _CONFIG_BUILDERS."""
  found = []
  for node in _functions(ast.parse(source, filename=path)):
    length = node.end_lineno - node.lineno + 1
    if length > limit and (path, node.name) not in _CONFIG_BUILDERS:
      found.append(f"{path}:{node.lineno} {node.name} ({length} lines)")
  return found


def _functions(node: ast.AST):
  """Every function and method defined under `node`. A def is a statement, so only statement
  lists are searched (not expressions: a tenth of the time of ast.walk)."""
  for field in ("body", "orelse", "finalbody", "handlers", "cases"):
    for child in getattr(node, field, ()):
      if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
        yield child
      if isinstance(child, ast.AST):
        yield from _functions(child)


def test_long_functions_counts_from_def_to_the_last_line():
  source = "def short():\n  pass\n\nclass A:\n  def long(self):\n" + "    x = 1\n" * 5
  assert long_functions(source, "m.py", limit=5) == ["m.py:5 long (6 lines)"]
  assert long_functions(source, "m.py", limit=6) == []
  builder = "def default_layers_config():\n" + "  x = 1\n" * 9
  assert long_functions(builder, "evaluate/layers/config.py", limit=5) == []
  assert long_functions(builder, "evaluate/other.py", limit=5) != []


def test_every_project_file_is_scanned():
  files = set(_project_files())
  assert {"training/train_loop.py", "evaluate/run.py", "train.py",
          "evaluate/layers/runner.py"} <= files
  assert not any(path.startswith(("tests/", "configs/", ".")) for path in files)


def test_no_function_is_longer_than_the_limit():
  too_long = []
  for path in _project_files():
    with open(os.path.join(REPO_ROOT, path), encoding="utf-8") as f:
      source = f.read()
    if source.count("\n") >= MAX_FUNCTION_LINES:  # (a shorter file has no long function)
      too_long += long_functions(source, path)
  assert not too_long, (f"functions over {MAX_FUNCTION_LINES} lines (split them into named "
                        f"steps): {too_long}")


def test_the_listed_config_builders_exist():
  # A renamed or moved builder must not leave a stale exemption behind.
  for path, name in sorted(_CONFIG_BUILDERS):
    with open(os.path.join(REPO_ROOT, path), encoding="utf-8") as f:
      tree = ast.parse(f.read())
    assert any(isinstance(node, ast.FunctionDef) and node.name == name
               for node in ast.walk(tree)), (path, name)
