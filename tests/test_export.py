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


def test_study_table_lists_finished_members_in_sweep_order(tmp_path, capsys):
  """scripts.study_table: a row per done member, in sweep.json's order, with the summary's
  numbers as written; a member not done is left out; a folder that is not a study exits 2."""
  from scripts import study_table  # pylint: disable=g-import-not-at-top
  names = ["none,seed=0", "embed_min16,seed=0", "crop_max2.0,seed=0"]
  (tmp_path / SWEEP_FILE).write_text(json.dumps({"members": [{"name": n} for n in names]}))
  for name, state, accuracy in zip(names, ("done", "running", "done"), (0.7712, 0.0, 0.7601)):
    (tmp_path / name).mkdir()
    (tmp_path / name / STATUS_FILE).write_text(json.dumps({"state": state, "seconds": 3725}))
    (tmp_path / name / "summary.json").write_text(json.dumps(dict(
        final_test_accuracy=accuracy, steps=3900, epochs=10.0, wall_time_sec=3000.0,
        train_images_per_sec=840.4)))
  lines = study_table.study_table(str(tmp_path)).splitlines()
  assert len(lines) == 4
  assert lines[2] == "| `none,seed=0` | 0.7712 | 3900 (10 epochs) | 50:00 | 840 | 1:02:05 |"
  assert lines[3].startswith("| `crop_max2.0,seed=0` | 0.7601 |")
  summary = json.loads((tmp_path / names[2] / "summary.json").read_text())
  summary["resumed_from_step"] = 500
  (tmp_path / names[2] / "summary.json").write_text(json.dumps(summary))
  resumed = study_table.study_table(str(tmp_path)).splitlines()[3]
  assert "| 3900 (10 epochs); times from step 500 on | 50:00 |" in resumed
  assert study_table.main([str(tmp_path / "none,seed=0")]) == 2
  assert "not a study folder" in capsys.readouterr().err
