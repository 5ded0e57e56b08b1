"""A name -> object registry that fails loudly on unknown names.

Models, augmentation policies, data sources, optimisers, schedules and evaluation protocols
are all looked up by name from a config. Each lives in a `Registry`; an unknown name raises
`UnknownNameError` at once, listing every valid name, so a typo in a config fails before any
work starts.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from common.errors import UserError

T = TypeVar("T")


class UnknownNameError(UserError, ValueError):
  """Raised when a name is not registered; the message lists the valid names."""


class Registry(Generic[T]):
  """Maps names to objects (usually factories or functions).

  Usage:
    MODELS = Registry("model")

    @MODELS.register("alexnet")
    def alexnet(**options): ...

    MODELS.get("alexnet")  # -> the function
    MODELS.get("alexnett")  # UnknownNameError: Unknown model 'alexnett'. Valid names: alexnet
  """

  def __init__(self, kind: str):
    self.kind = kind
    self._entries: dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    """Decorator registering its argument under `name`; a duplicate name is an error."""

    def decorator(obj: T) -> T:
      if name in self._entries:
        raise ValueError(f"{self.kind} {name!r} is registered twice")
      self._entries[name] = obj
      return obj

    return decorator

  def get(self, name: str) -> T:
    """Returns the object registered under `name`, or raises `UnknownNameError`."""
    try:
      return self._entries[name]
    except KeyError:
      raise UnknownNameError(
          f"Unknown {self.kind} {name!r}. Valid names: {', '.join(self.names())}"
      ) from None

  def names(self) -> list[str]:
    """All registered names, sorted."""
    return sorted(self._entries)

  def __contains__(self, name: object) -> bool:
    return name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(self.names())
