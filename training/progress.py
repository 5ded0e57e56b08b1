"""One progress line per log interval: step, epoch, loss, accuracy, learning rate, speed, ETA."""
from __future__ import annotations

import sys


def format_duration(seconds: float) -> str:
  """'1h02m', '3m05s' or '42s'."""
  seconds = max(int(seconds), 0)
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m"
  if minutes:
    return f"{minutes}m{secs:02d}s"
  return f"{secs}s"


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
    print(line, file=sys.stdout, flush=True)
