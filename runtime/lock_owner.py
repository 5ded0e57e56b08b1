"""Who holds a workdir lock: the owner record that runtime.workdir_lock writes into the lock
file, for messages only (whether the lock is held is the OS lock's answer, never this record).

The record is JSON: {"host", "pid", "pid_namespace", "started" (ISO 8601, local time with
offset), "command", "token"}. `pid_namespace` is /proc/self/ns/pid's link ('pid:[4026531836]'),
so that two containers with one hostname and their own pid numbering are told apart in a
message; None where /proc does not have it.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import secrets
import socket
import sys
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Owner:
  """Who holds a lock (the JSON of the lock file); `raw` is the file's text as read.

  A lock held shared (by evaluations: readers) has no record: `shared` is True, pid -1.
  An unreadable or incomplete record gives pid -1, host 'unknown'.
  """
  host: str
  pid: int
  started: str
  command: str
  token: str
  pid_namespace: Optional[str] = None
  shared: bool = False
  raw: str = dataclasses.field(default="", compare=False)

  def describe(self) -> str:
    if self.shared:
      return ("one or more evaluations (python -m evaluate or python -m evaluate.layers), "
              "which hold it shared")
    namespace = f" (pid namespace {self.pid_namespace})" if self.pid_namespace else ""
    return (f"process {self.pid} on host {self.host}{namespace}, started {self.started}"
            + (f" ({self.command})" if self.command else ""))


def readers() -> Owner:
  """The owner of a lock held shared (no record)."""
  return Owner(host="", pid=-1, started="", command="", token="", shared=True)


def pid_namespace() -> Optional[str]:
  """This process's pid namespace ('pid:[N]', Linux), or None."""
  try:
    return os.readlink("/proc/self/ns/pid")
  except OSError:
    return None


def me() -> Owner:
  """This process as an owner, with a fresh token."""
  started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
  command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
  return Owner(host=socket.gethostname(), pid=os.getpid(), started=started,
               command=command[:300], token=secrets.token_hex(8),
               pid_namespace=pid_namespace())


def to_json(owner: Owner) -> str:
  fields = dataclasses.asdict(owner)
  del fields["raw"], fields["shared"]
  return json.dumps(fields, indent=1) + "\n"


def from_text(raw: str) -> Optional[Owner]:
  """The owner recorded in `raw` (a lock file's text); None for an empty record; an Owner
  with pid -1 for an unreadable one."""
  if not raw.strip():
    return None
  try:
    fields = json.loads(raw)
    return Owner(host=str(fields["host"]), pid=int(fields["pid"]), started=str(fields["started"]),
                 command=str(fields.get("command", "")), token=str(fields.get("token", "")),
                 pid_namespace=fields.get("pid_namespace"), raw=raw)
  except (ValueError, KeyError, TypeError):
    return Owner(host="unknown", pid=-1, started="unknown", command="", token="", raw=raw)
