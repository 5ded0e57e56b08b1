"""`check_shared(workdir)`: every process of a multi-host run sees the workdir process 0 writes.

Only process 0 writes a run's files (runtime/hosts.py), and every process reads them back (the
checkpoint to restore, the config a resume compares with). A workdir on each host's local disk
(a common mistake on clusters) therefore seems to work until the first resume or evaluation,
which fails on the other processes or makes them wait on each other. At start-up process 0
writes a nonce file into its workdir (atomically: common.atomic_files), hands its name and
content to every process (hosts.broadcast_from_main, which is also the barrier), and every
process reads it from its own workdir; when any process does not find it, every process stops
at once (hosts.AgreedExit: status 1), saying that the workdir must be on a file system every
host shares. One process: nothing is checked.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import sys
from typing import Optional

from common.atomic_files import atomic_write_text
from runtime import hosts

# Name prefix of the nonce files (removed again by process 0 once every process has looked).
NONCE_PREFIX = ".shared-workdir-check-"
# Seconds every process waits for the others' answers before it calls them unresponsive.
ANSWER_TIMEOUT_S = 60.0


def _write_nonce(workdir: str) -> Optional[dict[str, str]]:
  """On process 0: writes a fresh nonce file into `workdir`; {'name', 'nonce'}, or None when
  `workdir` is not a directory (nothing to check: the command reports a missing run itself)."""
  if not os.path.isdir(workdir):
    return None
  nonce = secrets.token_hex(16)
  name = f"{NONCE_PREFIX}{nonce[:8]}"
  atomic_write_text(os.path.join(workdir, name), nonce)
  return {"name": name, "nonce": nonce}


def _look(workdir: str, posted: dict[str, str]) -> Optional[str]:
  """Why this process does not see process 0's nonce file in its `workdir`; None if it does."""
  path = os.path.join(workdir, posted["name"])
  try:
    with open(path) as f:
      content = f.read()
  except OSError as error:
    return f"{hosts.describe()} cannot read {path} ({error.strerror or error})"
  if content != posted["nonce"]:
    return f"{hosts.describe()} reads other content in {path} than process 0 wrote"
  return None


def _message(workdir: str, problems: list[str]) -> str:
  return (f"error: the workdir {workdir!r} is not the same directory on every process of this "
          f"run: " + "; ".join(problems) + ". The workdir must be on a file system every host "
          "shares (NFS, Lustre, GCS or S3 mounted alike on every host), at a path every host "
          "can reach; a local disk per host does not work (docs/multihost.md).")


def check_shared(workdir: str) -> None:
  """Stops every process of a multi-host run (hosts.AgreedExit, status 1, within seconds) when
  one of them does not see the nonce file process 0 writes into `workdir`; returns at once with
  one process, and when process 0's `workdir` is not a directory. Every process of the run must
  call it at the same point (it is an agreement step)."""
  if not hosts.is_multiprocess():
    return
  posted = hosts.broadcast_from_main("shared workdir check", lambda: _write_nonce(workdir))
  if posted is None:
    return
  outcomes = hosts.gather_outcomes("shared workdir check", _look(workdir, posted),
                                   timeout_s=ANSWER_TIMEOUT_S)
  if hosts.is_main_process():
    with contextlib.suppress(OSError):
      os.remove(os.path.join(workdir, posted["name"]))
  problems = [problem for problem in outcomes.values() if problem is not None]
  if problems:
    message = _message(workdir, problems)
    if not hosts.is_main_process():  # (process 0 prints it as it exits: hosts.run_command)
      print(message, file=sys.stderr)
    raise hosts.AgreedExit(message)
