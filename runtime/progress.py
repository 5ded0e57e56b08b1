"""Progress output of process 0: a tqdm progress bar on a terminal, one line per log step
otherwise (CI logs, files, pipes), so that logs stay readable and grep-able.

On a terminal a bar over the training steps shows the rate, elapsed time, ETA and the latest
loss / accuracy / images per second; the header, one line per evaluation (with the test
accuracy) and the final line are printed above it. Elsewhere every log step prints one line:
step, epoch, loss, accuracy, learning rate, speed and ETA. Durations are formatted as tqdm
formats them. tqdm is imported only for a bar on a terminal; without it (not installed),
the lines are printed there too.
"""
from __future__ import annotations

import importlib.util
import sys
from typing import Optional, TextIO


def is_terminal(stream: Optional[TextIO] = None) -> bool:
  """Whether `stream` (default: sys.stdout) is an interactive terminal."""
  stream = sys.stdout if stream is None else stream
  isatty = getattr(stream, "isatty", None)
  return bool(isatty and isatty())


def bars_available() -> bool:
  """Whether tqdm (the progress bars) is installed."""
  return importlib.util.find_spec("tqdm") is not None


def format_duration(seconds: float) -> str:
  """Durations as tqdm writes them: '00:42', '03:05', '1:02:03'."""
  minutes, secs = divmod(max(int(seconds), 0), 60)
  hours, minutes = divmod(minutes, 60)
  return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _write_line(line: str, stream: TextIO) -> None:
  """Prints `line` to `stream`, above a tqdm bar if one is showing."""
  if "tqdm" in sys.modules:  # a bar may be showing: tqdm.write keeps it below the line
    sys.modules["tqdm"].tqdm.write(line, file=stream)
  else:
    print(line, file=stream)


def progress_line(record: dict, total_steps: int, eta_seconds: float) -> str:
  """The line printed for one metrics record (see training.train_loop)."""
  parts = [f"step {record['step']}/{total_steps}", f"epoch {record['epoch']:.2f}"]
  if "train_loss" in record:
    parts += [f"loss {record['train_loss']:.4f}", f"train_acc {record['train_accuracy']:.3f}",
              f"lr {record['learning_rate']:.4g}", f"{record['images_per_sec']:.0f} img/s"]
  if "test_accuracy" in record:
    parts.append(f"test_acc {record['test_accuracy']:.4f}")
  parts.append(f"ETA {format_duration(eta_seconds)}")
  return " | ".join(parts)


def print_progress(line: str, enabled: bool) -> None:
  if enabled:
    _write_line(line, sys.stdout)  # above any progress bar; a plain print otherwise
    sys.stdout.flush()


class TrainProgress:
  """The training loop's progress output (module docstring).

  Args:
    total_steps: the run's last step.
    initial_step: the step it starts from (the restored checkpoint's, else 0).
    steps_per_epoch: steps per epoch (the bar's label shows the epoch).
    enabled: False prints nothing (processes other than 0).
    stream: where to write (default sys.stdout); a bar only if it is a terminal.
  """

  def __init__(self, total_steps: int, initial_step: int, steps_per_epoch: int, enabled: bool,
               stream: Optional[TextIO] = None):
    self.total_steps = total_steps
    self.steps_per_epoch = steps_per_epoch
    self._step = initial_step
    self.enabled = enabled
    self.stream = sys.stdout if stream is None else stream
    self.interactive = enabled and is_terminal(self.stream) and bars_available()
    self._bar = None
    if self.interactive:
      from tqdm import tqdm  # pylint: disable=g-import-not-at-top
      self._bar = tqdm(total=total_steps, initial=initial_step, unit="step", file=self.stream,
                       dynamic_ncols=True, desc=self._epoch_label())

  def _epoch_label(self) -> str:
    epochs = -(-self.total_steps // self.steps_per_epoch)
    return f"epoch {min(self._step // self.steps_per_epoch + 1, epochs)}/{epochs}"

  def step(self) -> None:
    """One train step was dispatched."""
    self._step += 1
    if self._bar is not None:
      if self._step % self.steps_per_epoch == 0:
        self._bar.set_description_str(self._epoch_label(), refresh=False)
      self._bar.update(1)

  def log(self, record: dict, eta_seconds: float) -> None:
    """A metrics record: a line (not on a terminal), or the bar's postfix plus a line above
    the bar when the record has a test accuracy (on a terminal)."""
    if not self.enabled:
      return
    if self._bar is None:
      self.say(progress_line(record, self.total_steps, eta_seconds))
      return
    if "train_loss" in record:
      self._bar.set_postfix_str(
          f"loss {record['train_loss']:.4f}, acc {record['train_accuracy']:.3f}, "
          f"{record['images_per_sec']:.0f} img/s", refresh=False)
    if "test_accuracy" in record:
      self.say(progress_line(record, self.total_steps, eta_seconds))

  def say(self, line: str) -> None:
    """Prints `line` (above the bar on a terminal)."""
    if self.enabled:
      _write_line(line, self.stream)
      self.stream.flush()

  def close(self) -> None:
    """Ends the bar (a no-op off a terminal)."""
    if self._bar is not None:
      self._bar.close()
      self._bar = None


def print_warning(line: str, enabled: bool) -> None:
  """'warning: <line>' on stderr (above any progress bar), if `enabled` (process 0)."""
  if enabled:
    _write_line(f"warning: {line}", sys.stderr)
    sys.stderr.flush()
