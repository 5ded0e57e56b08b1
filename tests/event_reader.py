"""Reads back the scalars of a directory's TensorBoard event files with TensorBoard's own
loader (tensorboard.backend.event_processing.EventAccumulator, a test dependency): its file
order, its purge of the steps a resumed session logs again (SessionLog.START), its CRC checks.
"""
import os

from tensorboard.backend.event_processing import event_accumulator

from common.tensorboard_events import event_files


def read_scalars(logdir: str, suffix: str = "") -> dict:
  """{tag: [(step, value), ...]} as TensorBoard shows the run in `logdir` (every scalar kept,
  no sampling). `suffix`: assert that every event file there has it (e.g. '.metrics')."""
  names = [name for name in os.listdir(logdir) if "tfevents" in name]
  assert names, f"no event files in {logdir}"
  if suffix:
    assert sorted(os.path.join(logdir, name) for name in names) == event_files(logdir, suffix)
  accumulator = event_accumulator.EventAccumulator(
      logdir, size_guidance={event_accumulator.SCALARS: 0}, purge_orphaned_data=True)
  accumulator.Reload()
  return {tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
          for tag in accumulator.Tags()["scalars"]}
