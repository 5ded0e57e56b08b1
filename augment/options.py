"""Build-time checks of policy options; every error names the offending field.

`field` arguments are dotted names such as 'downsize_embed.min_size'.
"""
from __future__ import annotations

import math
import numbers
from typing import TypeVar

from common.errors import ConfigError
from common.registry import Registry, UnknownNameError

T = TypeVar("T")

# Resampling kernels accepted by jax.image.scale_and_translate (nearest is not).
RESIZE_METHODS = ("linear", "cubic", "lanczos3", "lanczos5", "area")


def _check_bounds(field: str, value, low, high) -> None:
  if low is not None and value < low:
    raise ConfigError(f"{field} must be >= {low}, got {value!r}")
  if high is not None and value > high:
    raise ConfigError(f"{field} must be <= {high}, got {value!r}")


def require_int(field: str, value, *, low: int | None = None, high: int | None = None) -> int:
  """Returns `value` as an int if it is an integer in [low, high]; else ValueError."""
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise ConfigError(f"{field} must be an integer, got {value!r}")
  _check_bounds(field, value, low, high)
  return int(value)


def require_real(field: str, value, *, low: float | None = None,
                 high: float | None = None) -> float:
  """Returns `value` as a float if it is a real number in [low, high]; else ValueError."""
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    raise ConfigError(f"{field} must be a number, got {value!r}")
  if not math.isfinite(value):
    raise ConfigError(f"{field} must be finite, got {value!r}")
  _check_bounds(field, value, low, high)
  return float(value)


def require_bool(field: str, value) -> bool:
  """Returns `value` if it is a bool; else ValueError."""
  if not isinstance(value, bool):
    raise ConfigError(f"{field} must be True or False, got {value!r}")
  return value


def require_name(field: str, value, registry: Registry[T]) -> T:
  """Looks `value` up in `registry`; an unknown name raises ValueError naming `field`."""
  try:
    return registry.get(value)
  except (UnknownNameError, TypeError):
    raise ConfigError(
        f"{field}: unknown {registry.kind} {value!r}; valid: {', '.join(registry.names())}"
    ) from None


def require_resize_method(field: str, value) -> str:
  """Returns `value` if it is a kernel name jax.image.scale_and_translate accepts."""
  if value not in RESIZE_METHODS:
    raise ConfigError(
        f"{field}: unknown resize method {value!r}; valid: {', '.join(RESIZE_METHODS)}")
  return value


def require_square(policy: str, image) -> int:
  """Returns the side length of a square (H, H, C) image; else ValueError (at trace time)."""
  if image.ndim != 3 or image.shape[0] != image.shape[1]:
    raise ValueError(f"{policy} needs square (H, H, C) images, got shape {image.shape}")
  return image.shape[0]
