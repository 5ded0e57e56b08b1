"""Reading a checkpoint as one decision of every process: each read is retried once, and the
processes of a multi-host run agree on whether it succeeded before any of them acts on it.

A checkpoint step is called unreadable (and skipped, and moved aside) only when the processes
agree: every process reads it itself (`read_with_retry`: a failed read is tried once more
after RETRY_PAUSE_S, so a transient error of a shared file system does not condemn a step),
then all of them report their outcome (`agree`, through runtime.hosts.gather_outcomes) and
all take the same branch: the step is used when every process read it, and skipped by every
process when any of them could not. So replicas never restore different steps, and every
process reaches every later sync point. With one process, `agree` returns its own outcome.

The reads themselves must not contain a collective (a device barrier that only the processes
whose read succeeded would reach): checkpointing.py reads through an orbax manager whose
barriers are those of this process alone.
"""
from __future__ import annotations

import time
from typing import Callable, Optional, TypeVar

from runtime import hosts

# How many times a checkpoint read is tried before the step is called unreadable.
READ_ATTEMPTS = 2
# Seconds between two tries (a transient error of a network file system has time to clear).
RETRY_PAUSE_S = 1.0

T = TypeVar("T")


def short_reason(error: BaseException) -> str:
  """The first line of an error, without tensorstore's long spec dumps."""
  text = str(error).split(" [tensorstore_spec")[0].strip().splitlines()
  return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def read_with_retry(read: Callable[[], T], attempts: Optional[int] = None,
                    pause_s: Optional[float] = None,
                    sleep: Callable[[float], None] = time.sleep
                    ) -> tuple[Optional[T], Optional[str]]:
  """(read(), None) from the first of `attempts` (default READ_ATTEMPTS) tries that succeeds,
  else (None, the last try's reason). Catches any Exception (a corrupt file raises anything
  from orbax, tensorstore or json); `pause_s` seconds (default RETRY_PAUSE_S) pass between two
  tries."""
  attempts = READ_ATTEMPTS if attempts is None else attempts
  pause_s = RETRY_PAUSE_S if pause_s is None else pause_s
  reason = None
  for attempt in range(attempts):
    if attempt:
      sleep(pause_s)
    try:
      return read(), None
    except Exception as error:  # pylint: disable=broad-except  (any corruption)
      reason = short_reason(error)
  return None, reason


def combine_reasons(outcomes: dict[int, Optional[str]]) -> Optional[str]:
  """The agreed outcome of a read from every process's own, {process: reason or None}: None
  when every process read it; else every failure's reason, naming the process when the run
  has several (one process: its reason unchanged)."""
  failures = {process: reason for process, reason in outcomes.items() if reason is not None}
  if not failures:
    return None
  if len(outcomes) == 1:
    return next(iter(failures.values()))
  return "; ".join(f"on process {process} of {len(outcomes)}: {reason}"
                   for process, reason in sorted(failures.items()))


def agree(what: str, reason: Optional[str]) -> Optional[str]:
  """Agreement step (every process must call it at the same point, `what` naming it): this
  process's outcome of a read (None: it succeeded, else why not) in, the run's agreed outcome
  out (combine_reasons of every process's), the same on every process."""
  return combine_reasons(hosts.gather_outcomes(what, reason))


def agreed_read(what: str, read: Callable[[], T]) -> tuple[Optional[T], Optional[str]]:
  """read_with_retry on every process, then `agree`: (this process's value, None) when every
  process read it, else (None, the agreed reason) on every process."""
  value, reason = read_with_retry(read)
  agreed = agree(what, reason)
  return (value, None) if agreed is None else (None, agreed)
