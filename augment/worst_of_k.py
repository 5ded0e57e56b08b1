"""'worst_of_k': train on the worst of k random transforms per example (Engstrom et al. 2019).

For each example, k transforms are drawn from a wrapped policy (translate, crop or
downsize_embed, with its own options from config.augment.<policy>), the current model's loss
of all k candidates is computed in one forward pass of the (B * k) candidates, and the
candidate with the largest loss replaces the example. The choice is made without gradient
(stop_gradient on the candidates and on the losses); the loss function comes from the train
step (training.candidate_loss: BatchNorm in inference mode, batch statistics not updated).

With include_original, the image as it enters worst_of_k (untransformed by the wrapped policy)
is one more candidate, first in order: k draws + 1 candidates, and the model trains on the
original whenever no draw has a larger loss (so the choice is never worse than no augmentation).
The draws are the same with or without it.

Keys: the example keys are split from the policy key exactly as for any per-example policy;
k = 1 uses each example key itself (no forward pass unless include_original), so worst_of_k
with k = 1 gives exactly the wrapped policy's batch for the same key; k > 1 splits each example
key into k candidate keys. Ties between candidate losses go to the lowest candidate index
(jnp.argmax): the original, if included.

Only translations: the policies it wraps (crop, translate, downsize_embed) move or rescale the
image; Engstrom et al. (2019) drew rotations (up to +-30 degrees) together with translations.
Place it after the policies whose output the loss should see (e.g. 'flip,worst_of_k'): a
policy listed after it changes the chosen image without the loss having seen the change.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from common.errors import ConfigError
from augment.options import require_bool, require_int
from augment.pipeline import CandidateLossFn, LossAwarePolicy, make_policy
from augment.registry import POLICIES

# The policies worst_of_k may wrap: per-example geometric transforms with a random draw.
WRAPPABLE_POLICIES = ("crop", "downsize_embed", "translate")


def _section(augment_config: Any, name: str):
  """config.augment.<name>, or None (the factory defaults) when absent."""
  if augment_config is None:
    return None
  if hasattr(augment_config, "get"):
    return augment_config.get(name)
  return getattr(augment_config, name, None)


def choose_worst(candidates: jnp.ndarray, losses: jnp.ndarray) -> jnp.ndarray:
  """(B, H, W, C): for every example b, candidates[b, argmax_k losses[b, k]].

  candidates: (B, K, H, W, C); losses: (B, K).
  """
  worst = jnp.argmax(losses, axis=1)
  return jnp.take_along_axis(candidates, worst[:, None, None, None, None], axis=1)[:, 0]


@POLICIES.register("worst_of_k")
def worst_of_k_policy(*, k: int = 10, policy: str = "translate", include_original: bool = False,
                      augment_config: Any = None) -> LossAwarePolicy:
  """Factory. k: draws per example (>= 1; 1 = the wrapped policy itself); policy: the
  wrapped policy, one of WRAPPABLE_POLICIES, with the options of config.augment.<policy>;
  include_original: the untransformed image is one more candidate (k + 1 in all);
  augment_config: the whole config.augment (passed by augment.pipeline, not a user option)."""
  k = require_int("worst_of_k.k", k, low=1)
  require_bool("worst_of_k.include_original", include_original)
  if policy not in WRAPPABLE_POLICIES:
    raise ConfigError(f"worst_of_k.policy must be one of {', '.join(WRAPPABLE_POLICIES)}, got "
                      f"{policy!r}")
  wrapped = make_policy(policy, _section(augment_config, policy))

  def apply(key: jax.Array, images: jnp.ndarray, loss_fn: CandidateLossFn) -> jnp.ndarray:
    example_keys = jax.random.split(key, images.shape[0])
    if k == 1 and not include_original:
      return jax.vmap(wrapped)(example_keys, images)

    def candidates_of(example_key, image):
      keys = example_key[None] if k == 1 else jax.random.split(example_key, k)
      draws = jax.vmap(lambda candidate_key: wrapped(candidate_key, image))(keys)
      if include_original:
        return jnp.concatenate([image[None].astype(draws.dtype), draws])
      return draws

    candidates = jax.lax.stop_gradient(jax.vmap(candidates_of)(example_keys, images))
    losses = jax.lax.stop_gradient(loss_fn(candidates))
    if losses.shape != candidates.shape[:2]:
      raise ValueError(f"worst_of_k: loss_fn must return one loss per candidate, shape "
                       f"{candidates.shape[:2]}, got {losses.shape}")
    return choose_worst(candidates, losses)

  return LossAwarePolicy(name="worst_of_k", apply=apply)
