"""Re-renders the tables of RESULTS.md and README.md from the committed results (results/).

  python -m scripts.render_results           # rewrite every rendered block in place
  python -m scripts.render_results --check   # exit 1, naming each block that differs

A rendered block is the command that makes it, in an HTML comment (invisible on GitHub), the
text it printed, and an end marker:

  <!-- rendered by: python -m scripts.paired_table results/x/paired.json --by_size=embed_black -->
  | member | size 8 | ... |
  <!-- end rendered -->

The command is `python -m <module> <args>` with a module of this project whose
`main(argv) -> int` prints the block (scripts.paired_table is the one RESULTS uses); it runs in
this process with its output captured, from the repository root, so every number in a block is
re-made from results/ by the command written above it (tests/test_results_render.py checks
it). Exit status: 0; 1 with --check when a block differs; 2 for a command that fails.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import re
import shlex
import sys
from collections.abc import Sequence
from typing import Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = ("RESULTS.md", "README.md")  # Relative to the repository root.
BLOCK = re.compile(r"(<!-- rendered by: (?P<command>.+?) -->\n)(?P<body>.*?)(<!-- end rendered -->)",
                   re.DOTALL)


class RenderError(RuntimeError):
  """A block's command is not `python -m <module> ...`, or it failed."""


def run_command(command: str) -> str:
  """What `command` (`python -m <module> <args>`) prints, run in this process from the
  repository root.

  Raises:
    RenderError: another form of command, a module without main(argv), or a non-zero exit.
  """
  words = shlex.split(command)
  if len(words) < 3 or words[:2] != ["python", "-m"]:
    raise RenderError(f"not a 'python -m <module> ...' command: {command!r}")
  module = importlib.import_module(words[2])
  if not hasattr(module, "main"):
    raise RenderError(f"{words[2]} has no main(argv): {command!r}")
  out, err = io.StringIO(), io.StringIO()
  previous = os.getcwd()
  os.chdir(REPO_ROOT)
  try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      status = module.main(words[3:])
  finally:
    os.chdir(previous)
  if status:
    raise RenderError(f"{command!r} exited {status}: {err.getvalue().strip()}")
  return out.getvalue()


def render(text: str) -> tuple[str, list[str]]:
  """`text` with every rendered block re-made, and the commands whose blocks changed."""
  changed = []

  def replace(match: re.Match) -> str:
    body = run_command(match.group("command"))
    if body != match.group("body"):
      changed.append(match.group("command"))
    return match.group(1) + body + match.group(4)

  return BLOCK.sub(replace, text), changed


def render_documents(names: Sequence[str] = DOCUMENTS, check: bool = False) -> list[str]:
  """Re-renders the blocks of each document (in place unless `check`); returns
  '<document>: <command>' for every block that differed."""
  differing = []
  for name in names:
    path = os.path.join(REPO_ROOT, name)
    with open(path, encoding="utf-8") as f:
      text = f.read()
    rendered, changed = render(text)
    differing += [f"{name}: {command}" for command in changed]
    if changed and not check:
      with open(path, "w", encoding="utf-8") as f:
        f.write(rendered)
  return differing


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--check", action="store_true",
                      help="change nothing; exit 1 if a block differs from its command's output")
  args = parser.parse_args(argv)
  try:
    differing = render_documents(check=args.check)
  except (RenderError, OSError, ImportError) as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  for line in differing:
    print(("differs: " if args.check else "re-rendered: ") + line)
  return 1 if args.check and differing else 0


if __name__ == "__main__":
  sys.exit(main())
