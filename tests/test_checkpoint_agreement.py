"""The processes' agreement on checkpoint reads (runtime/checkpoint_agreement.py), in this
process: a read is retried once before a step is called unreadable, and a step that any process
could not read is skipped by every process, also by one whose own read succeeded (the other
processes' outcomes are given to gather_outcomes here; tests/test_multihost_checkpoints.py runs
two real processes)."""
import os

import pytest

from runtime import checkpoint_agreement, checkpointing, hosts


class _Flaky:
  """A read that fails its first `failures` calls with OSError, then returns 'value'."""

  def __init__(self, failures):
    self.failures, self.calls = failures, 0

  def __call__(self):
    self.calls += 1
    if self.calls <= self.failures:
      raise OSError(f"transient failure {self.calls}")
    return "value"


@pytest.mark.parametrize("failures, expected, calls, pauses", [
    (0, ("value", None), 1, []),
    (1, ("value", None), 2, [0.25]),  # one transient error: the retry reads it
    (2, (None, "OSError: transient failure 2"), 2, [0.25]),  # the last try's reason
])
def test_a_read_is_tried_once_more_before_it_is_called_failed(failures, expected, calls, pauses):
  read, slept = _Flaky(failures), []
  assert checkpoint_agreement.read_with_retry(read, pause_s=0.25, sleep=slept.append) == expected
  assert read.calls == calls and slept == pauses


def test_a_step_is_readable_only_when_every_process_read_it():
  combine = checkpoint_agreement.combine_reasons
  assert combine({0: None}) is None
  assert combine({0: "OSError: x"}) == "OSError: x"  # one process: its reason unchanged
  assert combine({1: None, 0: None}) is None
  assert combine({1: "OSError: x", 0: None}) == "on process 1 of 2: OSError: x"
  assert combine({1: "B", 0: "A"}) == "on process 0 of 2: A; on process 1 of 2: B"


def _others_report(monkeypatch, reports):
  """gather_outcomes as in a run of 2 processes whose process 1 reports `reports` in turn."""
  reports, asked = list(reports), []

  def gather_outcomes(what, error, timeout_s=None):
    asked.append(what)
    return {0: error, 1: reports.pop(0)}

  monkeypatch.setattr(hosts, "gather_outcomes", gather_outcomes)
  monkeypatch.setattr(checkpoint_agreement, "RETRY_PAUSE_S", 0.0)
  return asked


def test_a_process_whose_read_succeeded_skips_a_step_another_could_not_read(monkeypatch):
  asked = _others_report(monkeypatch, ["OSError: cannot read"])
  read = _Flaky(0)
  assert checkpoint_agreement.agreed_read("read step 8", read) == (
      None, "on process 1 of 2: OSError: cannot read")
  assert asked == ["read step 8"] and read.calls == 1


class _LegacySteps:
  """What _restore_with_fallback asks of an orbax manager, for checkpoints `steps` written
  without a config item (so no config is read): only their directories exist."""

  def __init__(self, directory, steps):
    self.directory, self._steps = str(directory), steps
    for step in steps:
      os.makedirs(os.path.join(self.directory, str(step), checkpointing.LEGACY_STATE_ITEM))

  def all_steps(self):
    return list(self._steps)


def test_every_process_falls_back_to_the_step_all_of_them_read(monkeypatch, tmp_path):
  # Process 1 cannot read step 8's state; this process (0) can: both restore step 4.
  asked = _others_report(monkeypatch, [None, "OSError: cannot read", None, None])
  reads = []

  def restore_state(step):
    reads.append(step)
    return f"state {step}"

  restored = checkpointing._restore_with_fallback(  # pylint: disable=protected-access
      _LegacySteps(tmp_path, [4, 8]), restore_state, None)
  assert (restored.step, restored.state) == (4, "state 4")
  assert restored.skipped == {8: "its state cannot be restored (on process 1 of 2: OSError: "
                                 "cannot read)"}
  assert reads == [8, 4]
  assert asked == ["read the config of checkpoint 8", "restore the state of checkpoint 8",
                   "read the config of checkpoint 4", "restore the state of checkpoint 4"]


def test_one_transient_read_error_keeps_the_latest_step(monkeypatch, tmp_path):
  monkeypatch.setattr(checkpoint_agreement, "RETRY_PAUSE_S", 0.0)
  flaky = _Flaky(1)
  restored = checkpointing._restore_with_fallback(  # pylint: disable=protected-access
      _LegacySteps(tmp_path, [4, 8]), lambda step: (step, flaky()), None)
  assert restored.step == 8 and restored.skipped == {} and flaky.calls == 2
