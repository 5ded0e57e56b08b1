"""sweeps.export: a sweep's small outputs, and nothing else, go to a results folder."""
import json
import os

import pytest

from sweeps import export
from sweeps.runner import STATUS_FILE, SWEEP_FILE


def _member(workdir, name, state):
  directory = os.path.join(workdir, name)
  os.makedirs(os.path.join(directory, "eval"))
  os.makedirs(os.path.join(directory, "checkpoints", "4"))
  for path in export.RESULT_FILES:
    if path != STATUS_FILE:
      with open(os.path.join(directory, path), "w") as f:
        f.write(f"{name} {path}")
  with open(os.path.join(directory, STATUS_FILE), "w") as f:
    json.dump({"name": name, "state": state}, f)
  for junk in ("checkpoints/4/state", "events.out.tfevents.1.host", "workdir.lock"):
    with open(os.path.join(directory, junk), "w") as f:
      f.write("large or local")


def test_export_copies_result_files_of_finished_members_only(tmp_path):
  """Done members keep exactly RESULT_FILES (same bytes); failed and running ones, and the
  checkpoints, event files and locks of all, stay behind; sweep.json comes along."""
  workdir, out = str(tmp_path / "sweep"), str(tmp_path / "results")
  os.makedirs(workdir)
  with open(os.path.join(workdir, SWEEP_FILE), "w") as f:
    f.write('{"members": []}')
  _member(workdir, "a,seed=0", "done")
  _member(workdir, "b,seed=0", "failed")
  _member(workdir, "c,seed=0", "running")
  assert export.export_results(workdir, out) == ["a,seed=0"]
  copied = sorted(os.path.relpath(os.path.join(root, name), out)
                  for root, _, names in os.walk(out) for name in names)
  assert copied == sorted([SWEEP_FILE] + [os.path.join("a,seed=0", path)
                                          for path in export.RESULT_FILES])
  with open(os.path.join(out, "a,seed=0", "eval", "eval.json")) as f:
    assert f.read() == "a,seed=0 eval/eval.json"


def test_export_refuses_a_folder_that_is_not_a_sweep_and_itself(tmp_path):
  with pytest.raises(FileNotFoundError, match="not a sweep workdir"):
    export.export_results(str(tmp_path), str(tmp_path / "out"))
  (tmp_path / SWEEP_FILE).write_text("{}")
  with pytest.raises(ValueError, match="must differ"):
    export.export_results(str(tmp_path), str(tmp_path))
