"""TensorBoard event files mirror metrics.jsonl and eval.json, also across a resume; progress
output is a tqdm bar on a terminal and one line per log step elsewhere. No training here (the
installed quickstart run in tests/test_package.py checks a real run's files and output)."""
import io
import json

import pytest

from common import tensorboard_events
from runtime import progress, run_files
from tests.event_reader import read_scalars


def _record(step, loss, test_accuracy=None):
  record = {"step": step, "epoch": step / 8, "train_loss": loss, "train_accuracy": 0.25,
            "learning_rate": 0.1, "images_per_sec": 1000.0}
  if test_accuracy is not None:
    record["test_accuracy"] = test_accuracy
  return record


def _jsonl_scalars(workdir):
  """{tag: [(step, value)]} of metrics.jsonl, as the event files should hold it."""
  scalars = {}
  for line in (workdir / run_files.METRICS_FILE).read_text().splitlines():
    record = json.loads(line)
    for tag, value in tensorboard_events.record_scalars(record).items():
      scalars.setdefault(tag, []).append((record["step"], value))
  return scalars


def _assert_same(events, expected):
  assert sorted(events) == sorted(expected)
  for tag, points in expected.items():
    assert [s for s, _ in events[tag]] == [s for s, _ in points], tag
    assert [v for _, v in events[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag


def test_resumed_run_shows_every_step_once_with_the_values_logged_again(tmp_path):
  died = run_files.MetricsLog(str(tmp_path))
  died.truncate_after(0)
  for step, loss in ((4, 2.0), (8, 1.5), (12, 1.25)):  # then killed; checkpoint 8 survived
    died.write(_record(step, loss))
  resumed = run_files.MetricsLog(str(tmp_path))
  resumed.truncate_after(8)
  resumed.write(_record(12, 1.0, test_accuracy=0.5))
  resumed.write(_record(16, 0.75))
  resumed.close()
  events = read_scalars(str(tmp_path), tensorboard_events.TRAIN_SUFFIX)
  assert events["train_loss"] == [(4, 2.0), (8, 1.5), (12, 1.0), (16, 0.75)]
  assert events["test_accuracy"] == [(12, 0.5)]
  _assert_same(events, _jsonl_scalars(tmp_path))
  assert len(tensorboard_events.event_files(str(tmp_path), tensorboard_events.TRAIN_SUFFIX)) == 2


def test_every_logged_record_is_on_disk_before_the_next_step(tmp_path):
  """A killed run must not lose events that metrics.jsonl holds (a resume re-logs only the
  steps after its checkpoint). tensorboardX's SummaryWriter(purge_step=...) writes the same
  purge event, but through a queue and a thread: its flush() does not wait for the queue, so
  a SIGKILL right after add_scalar + flush loses the last scalars (tried with tensorboardX
  2.6.5). Hence the synchronous writer, checked here with TensorBoard's reader while open."""
  log = run_files.MetricsLog(str(tmp_path))
  log.truncate_after(0)
  for step in (4, 8):
    log.write(_record(step, 1.0 / step))
    assert read_scalars(str(tmp_path))["train_loss"][-1] == (step, 1.0 / step)
  log.close()


def test_missing_event_files_are_written_from_metrics_jsonl_on_resume(tmp_path):
  (tmp_path / run_files.METRICS_FILE).write_text(
      "".join(json.dumps(_record(step, 3.0 - step / 8)) + "\n" for step in (4, 8, 12)))
  log = run_files.MetricsLog(str(tmp_path))
  log.truncate_after(8)
  log.close()
  events = read_scalars(str(tmp_path), tensorboard_events.TRAIN_SUFFIX)
  assert [step for step, _ in events["train_loss"]] == [4, 8]
  _assert_same(events, _jsonl_scalars(tmp_path))


def _report(step, accuracy):
  metric = lambda mean: {"mean": mean, "stderr": 0.01}  # noqa: E731
  return {"checkpoint_step": step, "clean_accuracy": metric(0.6),
          "protocols": {"crop": {"metrics": {"accuracy": metric(accuracy),
                                             "p_top1_change": metric(0.1),
                                             "mac": metric(float("nan"))}}}}


def test_eval_events_hold_the_headline_metrics_of_the_latest_evaluation(tmp_path):
  tensorboard_events.write_eval_events(str(tmp_path), _report(12, 0.5))
  tensorboard_events.write_eval_events(str(tmp_path), _report(20, 0.4))  # evaluated again
  events = read_scalars(str(tmp_path), tensorboard_events.EVAL_SUFFIX)
  assert events == {"clean_accuracy": [(20, pytest.approx(0.6))],
                    "crop/accuracy": [(20, pytest.approx(0.4))],
                    "crop/p_top1_change": [(20, pytest.approx(0.1))]}  # NaN left out


class _Terminal(io.StringIO):
  def isatty(self):
    return True


def _run_progress(stream):
  reporter = progress.TrainProgress(12, 0, steps_per_epoch=8, enabled=True, stream=stream)
  for step in range(1, 13):
    reporter.step()
    if step % 4 == 0:
      reporter.log(_record(step, 1.0, test_accuracy=0.5 if step in (8, 12) else None), 3.0)
  reporter.close()
  return stream.getvalue()


def test_progress_off_a_terminal_is_one_line_per_log_step():
  output = _run_progress(io.StringIO())
  lines = output.splitlines()
  assert len(lines) == 3 and "\r" not in output
  assert [line.split(" | ")[0] for line in lines] == ["step 4/12", "step 8/12", "step 12/12"]
  assert "test_acc 0.5000" in lines[1] and lines[0].endswith("ETA 00:03")


def test_progress_on_a_terminal_is_a_bar_with_the_evaluations_above_it():
  output = _run_progress(_Terminal())
  assert "\r" in output and "12/12" in output and "epoch 2/2" in output
  assert "loss 1.0000, acc 0.250" in output  # the bar's postfix
  printed = [line for line in output.split("\r") if line.startswith("step ")]
  assert [line.split(" | ")[0] for line in printed] == ["step 8/12", "step 12/12"]


def test_nothing_is_printed_by_processes_other_than_0():
  stream = _Terminal()
  reporter = progress.TrainProgress(12, 0, steps_per_epoch=8, enabled=False, stream=stream)
  reporter.step()
  reporter.log(_record(4, 1.0, test_accuracy=0.5), 3.0)
  reporter.close()
  assert stream.getvalue() == ""
