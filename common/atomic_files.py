"""`atomic_write(path)`: the one way this project writes a file that something else may read.

The content goes to a temporary file beside the target, named uniquely per writer
(`<name>.<host>.<pid>.<random>.tmp`, created with O_EXCL, so two writers never share one), is
flushed and fsynced, and is then renamed over the target (os.replace, atomic on a POSIX file
system); then the directory that holds it is fsynced, so that the rename itself survives a
power failure (fsync_directory). Where the platform or file system does not support directory
fsync (no O_DIRECTORY, as on Windows; EINVAL or ENOTSUP/EOPNOTSUPP, as on some network and FUSE
file systems; EACCES for a directory the writer may not open for reading) that step is
skipped, and the rename is as durable as the file system makes it. A reader therefore sees the
old file or the whole new one, never a half-written one; two writers of the same file each
write their own temporary file and the last rename wins. On
any error the temporary file is removed and the target is left as it was.

  with atomic_write(path) as f:          # text; mode="wb" for bytes
    f.write(text)
  atomic_write_text(path, text)

Append-only logs (metrics.jsonl, TensorBoard event files) are not written through here.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
from collections.abc import Iterator
from typing import IO

TEMP_SUFFIX = ".tmp"
# errno values with which a platform or file system says it cannot fsync a directory.
_NO_DIRECTORY_FSYNC = frozenset(
    code for code in (errno.EINVAL, getattr(errno, "ENOTSUP", None),
                      getattr(errno, "EOPNOTSUPP", None), errno.EACCES)
    if code is not None)


def fsync_directory(directory: str | os.PathLike) -> bool:
  """fsyncs `directory` so that renames and creations in it are on disk; returns False where
  directory fsync is not supported (no O_DIRECTORY, as on Windows, or an OSError with errno
  EINVAL, ENOTSUP/EOPNOTSUPP or EACCES from the platform or file system), True when done.

  Raises:
    OSError: any other failure (e.g. an I/O error on the disk).
  """
  flag = getattr(os, "O_DIRECTORY", None)
  if flag is None:
    return False
  try:
    descriptor = os.open(os.fspath(directory) or ".", os.O_RDONLY | flag)
  except OSError as error:
    if error.errno in _NO_DIRECTORY_FSYNC:
      return False
    raise
  try:
    os.fsync(descriptor)
  except OSError as error:
    if error.errno in _NO_DIRECTORY_FSYNC:
      return False
    raise
  finally:
    os.close(descriptor)
  return True


def temporary_path(path: str) -> str:
  """A temporary file name beside `path`, unique to this writer (host, process, random)."""
  host = socket.gethostname().replace(os.sep, "_") or "host"
  return f"{path}.{host}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
  """Yields a file open for writing (`mode` "w" or "wb", `open_kwargs` as for open(), e.g.
  newline=""); when the block ends without an exception its content replaces `path`
  atomically. The directory must exist.

  Raises:
    ValueError: `mode` is not a write mode.
    OSError: the temporary file cannot be created, written or renamed (it is removed).
  """
  if mode not in ("w", "wb"):
    raise ValueError(f"atomic_write writes whole files: mode 'w' or 'wb', got {mode!r}")
  path = os.fspath(path)
  temp = temporary_path(path)
  # 0o666 and the umask, as open() would: the file is as readable as any other the user writes.
  descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
  try:
    with os.fdopen(descriptor, mode, **open_kwargs) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(temp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(temp)
    raise
  fsync_directory(os.path.dirname(os.path.abspath(path)))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
  """Writes `text` to `path` atomically (atomic_write)."""
  with atomic_write(path) as f:
    f.write(text)
