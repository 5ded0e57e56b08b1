"""The README, RESULTS.md and docs/ link only to files and headings that exist, and the
README stays a front door (at most 250 lines)."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "RESULTS.md", *(ROOT / "docs").glob("*.md")])
# [text](target) and ![alt](target); targets without spaces.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
README_MAX_LINES = 250


def heading_anchors(markdown: str) -> set[str]:
  """GitHub's anchors of a document's headings: lower case, punctuation dropped, spaces -> '-'."""
  anchors = set()
  in_code = False
  for line in markdown.splitlines():
    if line.startswith("```"):
      in_code = not in_code
    if in_code or not line.startswith("#"):
      continue
    title = line.lstrip("#").strip().lower()
    title = re.sub(r"[^\w\- ]", "", title)
    anchors.add(title.replace(" ", "-"))
  return anchors


def local_links(document: pathlib.Path) -> list[str]:
  text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
  return [target for target in LINK.findall(text)
          if not re.match(r"[a-z]+:", target)]  # http:, https:, mailto:


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(document):
  broken = []
  for target in local_links(document):
    path, _, anchor = target.partition("#")
    linked = (document.parent / path).resolve() if path else document
    if not linked.exists():
      broken.append(f"{target}: no file {linked}")
    elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked.read_text()):
      broken.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
  assert not broken, f"{document.name} has broken links:\n  " + "\n  ".join(broken)


def test_every_doc_is_linked_from_the_readme():
  readme_targets = {(ROOT / t.partition("#")[0]).resolve() for t in local_links(ROOT / "README.md")}
  unlinked = [d.name for d in DOCUMENTS if d.parent.name == "docs" and d not in readme_targets]
  assert not unlinked, f"docs not linked from README.md: {unlinked}"


def test_readme_is_short():
  lines = (ROOT / "README.md").read_text().count("\n")
  assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"


def test_link_checker_finds_a_broken_link(tmp_path):
  doc = tmp_path / "a.md"
  doc.write_text("# Title\n[ok](#title) [bad](missing.md) [bad anchor](#nope)\n")
  targets = local_links(doc)
  assert targets == ["#title", "missing.md", "#nope"]
  assert "title" in heading_anchors(doc.read_text())
  assert "nope" not in heading_anchors(doc.read_text())
