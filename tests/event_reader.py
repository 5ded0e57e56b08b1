"""Reads back the scalars of TensorBoard event files, as TensorBoard shows them.

For tests: TFRecord framing (length, masked CRC-32C of the length, the serialised Event,
masked CRC-32C of it; CRCs checked) decoded with tensorboardX's protocol buffers, and
TensorBoard's purge rule: a SessionLog.START event at step k drops the steps >= k read so far.
"""
import struct

from tensorboardX.proto.event_pb2 import Event, SessionLog
from tensorboardX.record_writer import masked_crc32c

from common.tensorboard_events import event_files


def read_events(path: str) -> list:
  """Every Event of one event file, in order."""
  with open(path, "rb") as f:
    data = f.read()
  events, position = [], 0
  while position < len(data):
    header = data[position:position + 8]
    (length,) = struct.unpack("<Q", header)
    (header_crc,) = struct.unpack("<I", data[position + 8:position + 12])
    assert header_crc == masked_crc32c(header), f"bad length CRC in {path} at {position}"
    body = data[position + 12:position + 12 + length]
    (body_crc,) = struct.unpack("<I", data[position + 12 + length:position + 16 + length])
    assert body_crc == masked_crc32c(body), f"bad record CRC in {path} at {position}"
    events.append(Event.FromString(body))
    position += 16 + length
  return events


def read_scalars(logdir: str, suffix: str) -> dict:
  """{tag: [(step, value), ...]} over the `suffix` event files of `logdir`, files in name
  order (as TensorBoard reads them), after purges."""
  scalars = {}
  for path in event_files(logdir, suffix):
    for event in read_events(path):
      if event.HasField("session_log") and event.session_log.status == SessionLog.START:
        scalars = {tag: [(s, v) for s, v in points if s < event.step]
                   for tag, points in scalars.items()}
      for value in event.summary.value:
        scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
  return scalars
