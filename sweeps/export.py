"""Copies a sweep's small outputs to a results folder that can be committed and collected.

A sweep workdir holds checkpoints and event files (megabytes per member) beside the few small
files that its collection reads. `export_results(workdir, out)` copies, for every member whose
state is 'done', only RESULT_FILES (config, metrics, summary, the sweep's member record, the
evaluation's report and per-image results) to `out/<member>/`, plus the sweep's `sweep.json`,
so that `sweep.py --collect --workdir <out>` works on `out` alone, on another machine. Files
are written atomically; a member already exported is overwritten with its current files.
"""
from __future__ import annotations

import os

from common.atomic_files import atomic_write
from evaluate.stats.per_image import PER_IMAGE_FILE
from evaluate.report import EVAL_JSON, SUMMARY_MD
from runtime.run_files import CONFIG_FILE, EVAL_SUBDIR, METRICS_FILE, SUMMARY_FILE
from sweeps.runner import DONE, STATUS_FILE, SWEEP_FILE, read_status

# Paths inside a member's workdir that an export keeps (those that exist).
RESULT_FILES = (CONFIG_FILE, METRICS_FILE, SUMMARY_FILE, STATUS_FILE,
                os.path.join(EVAL_SUBDIR, EVAL_JSON), os.path.join(EVAL_SUBDIR, SUMMARY_MD),
                os.path.join(EVAL_SUBDIR, PER_IMAGE_FILE))


def _copy(source: str, destination: str) -> None:
  os.makedirs(os.path.dirname(destination), exist_ok=True)
  with open(source, "rb") as f, atomic_write(destination, "wb") as target:
    target.write(f.read())


def export_results(workdir: str, out: str) -> list[str]:
  """Copies the small outputs of every finished member of the sweep in `workdir` to `out`.

  Returns:
    The names of the members exported (sorted).
  Raises:
    FileNotFoundError: `workdir` holds no sweep.json (not a sweep workdir).
  """
  sweep_file = os.path.join(workdir, SWEEP_FILE)
  if not os.path.isfile(sweep_file):
    raise FileNotFoundError(f"{workdir} is not a sweep workdir (no {SWEEP_FILE})")
  if os.path.abspath(workdir) == os.path.abspath(out):
    raise ValueError(f"the export folder must differ from the sweep workdir ({workdir})")
  _copy(sweep_file, os.path.join(out, SWEEP_FILE))
  exported = []
  for name in sorted(os.listdir(workdir)):
    directory = os.path.join(workdir, name)
    status = read_status(directory) if os.path.isdir(directory) else None
    if not status or status.get("state") != DONE:
      continue
    for path in RESULT_FILES:
      if os.path.isfile(os.path.join(directory, path)):
        _copy(os.path.join(directory, path), os.path.join(out, name, path))
    exported.append(name)
  return exported
