"""Runs a jitted per-image computation over many images in fixed-size chunks.

Every chunk has the same shape (the last one padded by repeating its last image), so the
function compiles once; the chunk's images are sharded over the mesh's devices (the chunk size
is rounded up to a multiple of their number) and the variables replicated, as in the grid
engine (evaluate/grid.py). Outputs (any pytree of arrays whose leading axis is the image) are
fetched after every chunk has been dispatched (gathered from every process's devices in a
multi-host run: runtime.hosts.fetch) and concatenated on the host.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import jax
import numpy as np

from runtime.hosts import fetch
from runtime.mesh import MeshShardings, make_data_parallel_mesh
from runtime.progress import format_duration


def round_up(value: int, step: int) -> int:
  return -(-value // step) * step


def _pad_rows(array: np.ndarray, rows: int) -> np.ndarray:
  missing = rows - array.shape[0]
  return np.concatenate([array, np.repeat(array[-1:], missing, 0)]) if missing else array


def map_chunks(fn: Callable[..., Any], variables, images: np.ndarray, *,
               images_per_chunk: int, shardings: Optional[MeshShardings] = None,
               extra: tuple = (), say: Optional[Callable[[str], None]] = None,
               what: str = "images") -> Any:
  """fn(variables, images_chunk, *extra) for every chunk of `images`, concatenated.

  Args:
    fn: a jitted function; images_chunk is (n, ...) with n = images_per_chunk rounded up to a
      multiple of the devices; it returns a pytree of arrays with leading axis n.
    variables: passed unchanged (replicated over the mesh).
    images: (N, ...) host array (N >= 1).
    images_per_chunk: chunk size (>= 1).
    extra: further arguments passed (replicated) to every call.
    say: progress printer (one line per ~10% of the chunks), or None.
    what: names the images in progress lines.
  Returns:
    The pytree of fn's outputs with leading axis N (host NumPy arrays).
  """
  if images.shape[0] == 0:
    raise ValueError(f"no {what} to process")
  if images_per_chunk < 1:
    raise ValueError(f"images_per_chunk must be >= 1, got {images_per_chunk}")
  shardings = shardings or make_data_parallel_mesh()
  chunk = round_up(min(images_per_chunk, images.shape[0]), shardings.num_devices)
  variables = jax.device_put(variables, shardings.replicated)
  extra = jax.device_put(extra, shardings.replicated)
  starts = list(range(0, images.shape[0], chunk))
  report_every = max(1, len(starts) // 10)
  outputs, begin = [], time.perf_counter()
  for index, start in enumerate(starts, 1):
    rows = _pad_rows(images[start:start + chunk], chunk)
    outputs.append(fn(variables, jax.device_put(rows, shardings.batch), *extra))
    if say and (index % report_every == 0 or index == len(starts)):
      jax.block_until_ready(outputs[-1])
      elapsed = time.perf_counter() - begin
      say(f"  {min(start + chunk, images.shape[0])}/{images.shape[0]} {what} "
          f"({format_duration(elapsed)}, ETA {format_duration(elapsed / index * (len(starts) - index))})")
  host = [fetch(output) for output in outputs]  # gathered from every process's devices
  total = images.shape[0]
  return jax.tree.map(lambda *parts: np.concatenate(parts)[:total], *host)
