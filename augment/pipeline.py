"""Builds the batch augmentation function from `config.augment`.

The result is pure and jittable and is meant to run inside the jitted train step on a whole
batch: policy i (in the order listed) uses key fold_in(key, i), split into one key per example,
and a vmapped per-example function, so every example gets its own independent draw.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from augment.registry import POLICIES

BatchAugment = Callable[[jax.Array, jnp.ndarray], jnp.ndarray]
NO_POLICY = "none"


def parse_policy_names(policies: str) -> list[str]:
  """'crop, flip' -> ['crop', 'flip']; '' and 'none' entries are dropped."""
  names = [name.strip() for name in policies.split(",")]
  return [name for name in names if name and name != NO_POLICY]


def _as_dict(options: Any) -> dict:
  if options is None:
    return {}
  if hasattr(options, "to_dict"):
    return options.to_dict()
  return dict(options)


def _get(config: Any, field: str, default: Any = None) -> Any:
  if isinstance(config, Mapping):
    return config.get(field, default)
  return getattr(config, field, default) if field in config else default


def make_policy(name: str, options: Mapping[str, Any] | None = None):
  """Validates `options` and returns POLICIES[name](**options): per_example_fn(key, image).

  Raises:
    UnknownNameError: `name` is not a registered policy (the message lists the valid names).
    ValueError: an unknown option, or an invalid value (the message names the field).
  """
  factory = POLICIES.get(name)
  options = _as_dict(options)
  accepted = [parameter for parameter in inspect.signature(factory).parameters]
  unknown = sorted(set(options) - set(accepted))
  if unknown:
    raise ValueError(
        f"config.augment.{name}: unknown option(s) {', '.join(unknown)}; "
        f"valid options: {', '.join(accepted)}")
  try:
    return factory(**options)
  except ValueError as error:
    raise ValueError(f"Invalid config.augment.{name}: {error}") from error


def apply_per_example(per_example_fn, key: jax.Array, images: jnp.ndarray) -> jnp.ndarray:
  """Applies per_example_fn(key_b, images[b]) with keys random.split(key, B)."""
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(per_example_fn)(keys, images)


def build_augment(augment_config: Any) -> BatchAugment:
  """Returns augment(key, images) -> images for `config.augment`.

  Args:
    augment_config: ConfigDict (or dict) with `policies`, a comma-separated list of policy
      names applied in order ('' or 'none' = identity), and one options dict per policy name
      (missing -> the factory defaults; see default_augment_config()). Every key other than
      'policies' must be a registered policy name (catches typos in sub-dict names).

  Returns:
    A pure, jittable function augment(key, images): images (B, H, W, C) float pixel values in
    [0, 255] -> same shape and dtype. Policy i uses jax.random.fold_in(key, i).

  Raises (at build time):
    UnknownNameError: unknown policy name (lists the valid names).
    ValueError: unknown option or impossible value (names the field).
  """
  policies = _get(augment_config, "policies", "")
  if not isinstance(policies, str):
    raise ValueError(f"config.augment.policies must be a string, got {policies!r}")
  for field in augment_config.keys():
    if field != "policies" and field not in POLICIES:
      raise ValueError(
          f"config.augment.{field} is not a policy; valid fields: policies, "
          f"{', '.join(POLICIES.names())}")
  per_example_fns = [make_policy(name, _get(augment_config, name))
                     for name in parse_policy_names(policies)]

  def augment(key: jax.Array, images: jnp.ndarray) -> jnp.ndarray:
    if not jnp.issubdtype(images.dtype, jnp.floating):
      raise TypeError(f"augment expects float pixel values in [0, 255], got {images.dtype}")
    for index, per_example_fn in enumerate(per_example_fns):
      images = apply_per_example(per_example_fn, jax.random.fold_in(key, index), images)
    return images

  return augment
