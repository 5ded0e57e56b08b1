"""Builds the batch augmentation function from `config.augment`.

The result is pure and jittable and is meant to run inside the jitted train step on a whole
batch: policy i (in the order listed) uses key fold_in(key, i), split into one key per example,
and a vmapped per-example function, so every example gets its own independent draw.

Three hooks for policies that wrap others, need the model, or are tied to the example:
- a factory with a keyword parameter named WHOLE_CONFIG_PARAMETER receives the whole
  config.augment (to build the policy it wraps from that policy's own section); it is not a
  user option;
- a factory may return a LossAwarePolicy instead of a per-example function: it works on the
  whole batch and gets `loss_fn`, the current model's per-candidate loss, which the caller
  (training.steps) passes as augment(key, images, loss_fn=...). `augment.needs_loss` says
  whether a built pipeline holds such a policy;
- a factory may return an ExampleAwarePolicy: its draw depends on which example of the
  training set it augments and on the epoch, not on the step (e.g. alternating_flip); the
  caller passes augment(key, images, example_keys=..., epoch=...). `augment.needs_examples`
  says whether a built pipeline holds such a policy.
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from common.errors import ConfigError
from augment.registry import POLICIES

BatchAugment = Callable[..., jnp.ndarray]
# loss_fn(candidates (B, K, H, W, C) float pixel values in [0, 255]) -> (B, K) float32 loss of
# candidate k of example b under the current model, against example b's label.
CandidateLossFn = Callable[[jnp.ndarray], jnp.ndarray]
NO_POLICY = "none"
# Factory parameter that receives the whole config.augment (not a user option).
WHOLE_CONFIG_PARAMETER = "augment_config"


@dataclasses.dataclass(frozen=True)
class LossAwarePolicy:
  """A batch policy that chooses among transforms by the model's loss.

  Attributes:
    name: the POLICIES name (for error messages).
    apply: apply(key, images (B, H, W, C), loss_fn: CandidateLossFn) -> images, pure and
      jittable; `key` is the policy's key for the whole batch.
  """
  name: str
  apply: Callable[[jax.Array, jnp.ndarray, CandidateLossFn], jnp.ndarray]


@dataclasses.dataclass(frozen=True)
class ExampleAwarePolicy:
  """A per-example policy whose draw is tied to the training example and the epoch.

  Attributes:
    name: the POLICIES name (for error messages).
    apply: apply(example_key, epoch, image (H, W, C)) -> image, pure and jittable;
      `example_key` is the example's own key, the same in every epoch of a run (folded with
      the policy's position in the list), `epoch` an int32 scalar.
  """
  name: str
  apply: Callable[[jax.Array, jnp.ndarray, jnp.ndarray], jnp.ndarray]


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


def make_policy(name: str, options: Mapping[str, Any] | None = None,
                augment_config: Any = None):
  """Validates `options` and returns POLICIES[name](**options): per_example_fn(key, image)
  (or a LossAwarePolicy). A factory taking WHOLE_CONFIG_PARAMETER also gets `augment_config`.

  Raises:
    UnknownNameError: `name` is not a registered policy (the message lists the valid names).
    ValueError: an unknown option, or an invalid value (the message names the field).
  """
  factory = POLICIES.get(name)
  options = _as_dict(options)
  parameters = inspect.signature(factory).parameters
  accepted = [parameter for parameter in parameters if parameter != WHOLE_CONFIG_PARAMETER]
  unknown = sorted(set(options) - set(accepted))
  if unknown:
    raise ConfigError(
        f"config.augment.{name}: unknown option(s) {', '.join(unknown)}; "
        f"valid options: {', '.join(accepted)}")
  if WHOLE_CONFIG_PARAMETER in parameters:
    options[WHOLE_CONFIG_PARAMETER] = augment_config
  try:
    return factory(**options)
  except ValueError as error:
    raise ConfigError(f"Invalid config.augment.{name}: {error}") from error


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
    A pure, jittable function augment(key, images, loss_fn=None, example_keys=None,
    epoch=None): images (B, H, W, C) float pixel values in [0, 255] -> same shape and dtype.
    Policy i uses jax.random.fold_in(key, i) (an ExampleAwarePolicy: fold_in(example_keys[b],
    i) for example b). Its attribute `needs_loss` is True when a LossAwarePolicy is listed:
    then loss_fn (a CandidateLossFn) must be given; `needs_examples` is True when an
    ExampleAwarePolicy is listed: then example_keys ((B,) keys, one per training example,
    the same in every epoch) and epoch (int32 scalar) must be given. Calling it without them
    raises ValueError (at trace time).

  Raises (at build time):
    UnknownNameError: unknown policy name (lists the valid names).
    ValueError: unknown option or impossible value (names the field).
  """
  policies = _get(augment_config, "policies", "")
  if not isinstance(policies, str):
    raise ConfigError(f"config.augment.policies must be a string, got {policies!r}")
  for field in augment_config.keys():
    if field != "policies" and field not in POLICIES:
      raise ConfigError(
          f"config.augment.{field} is not a policy; valid fields: policies, "
          f"{', '.join(POLICIES.names())}")
  per_example_fns = [make_policy(name, _get(augment_config, name), augment_config)
                     for name in parse_policy_names(policies)]

  def augment(key: jax.Array, images: jnp.ndarray, loss_fn: CandidateLossFn | None = None,
              example_keys: jax.Array | None = None,
              epoch: jnp.ndarray | None = None) -> jnp.ndarray:
    if not jnp.issubdtype(images.dtype, jnp.floating):
      raise TypeError(f"augment expects float pixel values in [0, 255], got {images.dtype}")
    for index, per_example_fn in enumerate(per_example_fns):
      policy_key = jax.random.fold_in(key, index)
      if isinstance(per_example_fn, LossAwarePolicy):
        if loss_fn is None:
          raise ValueError(f"augmentation policy {per_example_fn.name!r} needs the model's "
                           "loss: call augment(key, images, loss_fn=...) (training.steps does)")
        images = per_example_fn.apply(policy_key, images, loss_fn)
      elif isinstance(per_example_fn, ExampleAwarePolicy):
        if example_keys is None or epoch is None:
          raise ValueError(f"augmentation policy {per_example_fn.name!r} needs each example's "
                           "key and the epoch: call augment(key, images, example_keys=..., "
                           "epoch=...) (training.steps does)")
        keys = jax.vmap(lambda example_key: jax.random.fold_in(example_key, index))(
            example_keys)
        images = jax.vmap(per_example_fn.apply, in_axes=(0, None, 0))(keys, epoch, images)
      else:
        images = apply_per_example(per_example_fn, policy_key, images)
    return images

  augment.needs_loss = any(isinstance(fn, LossAwarePolicy) for fn in per_example_fns)
  augment.needs_examples = any(isinstance(fn, ExampleAwarePolicy) for fn in per_example_fns)
  return augment
