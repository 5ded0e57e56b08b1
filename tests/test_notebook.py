"""Executes the code of notebooks/colab_tpu.ipynb on CPU with a tiny config, so it cannot rot.

Like papermill: the cell tagged 'parameters' runs as written, then a cell of test values is
injected after it. Cells tagged 'colab-only' (git clone, pip install) are skipped; shell lines
('!cmd {VAR}') run through bash after IPython-style {VAR} expansion. IPython.display is
replaced by a stand-in that checks every shown picture and Markdown file is real, if IPython
itself is not installed.
"""
import json
import os
import re
import subprocess
import sys
import textwrap
import types

import pytest

from tests.conftest import REPO_ROOT, write_tiny_sweep

NOTEBOOK = os.path.join(REPO_ROOT, "notebooks", "colab_tpu.ipynb")

_TINY_CONFIG = """
from tests.conftest import tiny_config, tiny_eval_config


def get_config():
  return tiny_eval_config(tiny_config(), jagged_images=1)
"""


def _cells():
  with open(NOTEBOOK) as f:
    notebook = json.load(f)
  return [(cell["metadata"].get("tags", []), "".join(cell["source"]))
          for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _as_python(source: str) -> str:
  """Shell lines ('!cmd') become calls of _shell(cmd); magics other than in colab-only cells
  are not allowed (they would not run outside IPython)."""
  lines = []
  for line in source.splitlines():
    stripped = line.lstrip()
    indent = line[:len(line) - len(stripped)]
    if stripped.startswith("!"):
      lines.append(f"{indent}_shell({stripped[1:]!r})")
    else:
      assert not stripped.startswith("%"), f"magic outside a colab-only cell: {line}"
      lines.append(line)
  return "\n".join(lines)


class _Shown:
  """Stand-ins for IPython.display.{Image, Markdown}: they check that what is shown exists."""

  def __init__(self):
    self.items = []

  def image(self, path):
    assert os.path.getsize(path) > 0, path
    return ("image", path)

  def markdown(self, text):
    assert text.strip()
    return ("markdown", text)

  def display(self, item):
    self.items.append(item)


@pytest.mark.slow
def test_notebook_code_runs_on_cpu(tmp_path, monkeypatch):
  cells = _cells()
  tags = [t for t, _ in cells]
  assert ["colab-only"] in tags and ["parameters"] in tags
  (tmp_path / "tiny_run.py").write_text(textwrap.dedent(_TINY_CONFIG))
  write_tiny_sweep(tmp_path / "tiny_sweep.py",
                   [{"label": "a"}, {"label": "b", "train.learning_rate": 0.02}], evaluate=False)
  test_values = textwrap.dedent(f"""
      CONFIG_FILE = {str(tmp_path / 'tiny_run.py')!r}
      WORKDIR = {str(tmp_path / 'run')!r}
      OVERRIDES["data.source"] = "synthetic"
      OVERRIDES["eval.num_images"] = 8
      SWEEP_CONFIG = {str(tmp_path / 'tiny_sweep.py')!r}
      SWEEP_WORKDIR = {str(tmp_path / 'sweep')!r}
      """)

  shown = _Shown()
  try:
    import IPython.display  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    stand_in = types.ModuleType("IPython.display")
    stand_in.Image, stand_in.Markdown = shown.image, shown.markdown
    stand_in.display = shown.display
    package = types.ModuleType("IPython")
    package.display = stand_in
    package.version_info = (99, 0)  # matplotlib probes it: "a recent IPython, nothing to do"
    monkeypatch.setitem(sys.modules, "IPython", package)
    monkeypatch.setitem(sys.modules, "IPython.display", stand_in)
  monkeypatch.chdir(REPO_ROOT)
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  namespace = {"__name__": "__notebook__"}

  def shell(command):
    command = re.sub(r"\{(\w+)\}", lambda m: str(namespace[m.group(1)]), command)
    command = command.replace("python ", f"{sys.executable} ", 1)
    result = subprocess.run(command, shell=True, capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    namespace.setdefault("_shell_outputs", []).append(result.stdout)

  namespace["_shell"] = shell
  for cell_tags, source in cells:
    if "colab-only" in cell_tags:
      continue
    exec(compile(_as_python(source), NOTEBOOK, "exec"), namespace)  # pylint: disable=exec-used
    if "parameters" in cell_tags:
      exec(test_values, namespace)  # pylint: disable=exec-used

  assert namespace["summary"]["steps"] == 12
  assert os.path.exists(tmp_path / "run" / "eval" / "eval.json")
  listed, _, collected = namespace["_shell_outputs"]
  assert "a,seed=0" in listed and "b,seed=0" in listed
  assert "1 done" in collected and "1 not started" in collected
  if shown.items:  # the stand-in was used: every picture the notebook shows was there
    assert sum(kind == "image" for kind, _ in shown.items) >= 3
