"""The jitted train step and its helpers.

One call of the train step does: pick this step's batch from the on-device training set by
the epoch's permutation, augment it (per-example keys), normalise, forward, backward, update.
The training set stays on the device as uint8; nothing goes through the host.
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from data.normalize import normalize
from training.candidate_loss import make_candidate_loss_fn
from training.state import TrainState

# augment(key, images) -> images; with `needs_loss` True (augment.build_augment's attribute),
# augment(key, images, loss_fn=...) (training.candidate_loss), e.g. for worst_of_k.
AugmentFn = Callable[..., jax.Array]

# Tags folded into the run's root key so every random stream is independent.
_PERMUTATION_STREAM = 1
_AUGMENT_STREAM = 2
_LPS_STREAM = 3  # Gumbel noise of learnable downsampling (models.uses_temperature)
_EXAMPLE_STREAM = 4  # per-example keys, fixed for the run (augment.ExampleAwarePolicy)


def epoch_permutation(root_key: jax.Array, epoch: jax.Array, num_examples: int) -> jax.Array:
  """The training-set order of `epoch`: int32 (num_examples,), a function of key and epoch."""
  key = jax.random.fold_in(jax.random.fold_in(root_key, _PERMUTATION_STREAM), epoch)
  return jax.random.permutation(key, num_examples).astype(jnp.int32)


def augment_key(root_key: jax.Array, step: jax.Array) -> jax.Array:
  """The key from which step `step`'s per-example augmentation keys are split."""
  return jax.random.fold_in(jax.random.fold_in(root_key, _AUGMENT_STREAM), step)


def example_keys(root_key: jax.Array, indices: jax.Array) -> jax.Array:
  """(B,) keys of the training examples `indices` (int32 (B,)), the same in every epoch."""
  base = jax.random.fold_in(root_key, _EXAMPLE_STREAM)
  return jax.vmap(lambda index: jax.random.fold_in(base, index))(indices)


def cross_entropy(logits: jax.Array, labels: jax.Array, num_classes: int,
                  label_smoothing: float) -> jax.Array:
  """Mean softmax cross-entropy; logits (B, C) float, labels (B,) int."""
  targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), label_smoothing)
  return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets).mean()


def _all_finite(tree) -> jax.Array:
  """Whether every element of every leaf is finite, as one reduction over all of them.

  (One check per leaf, combined, let XLA fuse the combination into every consumer of the
  result: the compiled train step then grew with the square of the number of small
  parameters, e.g. several times slower to compile with per-channel activation parameters.)
  """
  leaves = [jnp.ravel(x) for x in jax.tree.leaves(tree)]
  return jnp.all(jnp.isfinite(jnp.concatenate(leaves))) if leaves else jnp.array(True)


def make_update_fn(model: nn.Module, tx: optax.GradientTransformation, *, num_classes: int,
                   label_smoothing: float, temperature_schedule=None):
  """Returns `update(state, inputs, labels, lps_key=None) -> state`: forward, backward, update.

  inputs: float32 (B, 32, 32, 3) normalised images; labels: int32 (B,).
  temperature_schedule: step -> temperature, for models with stochastic downsampling
  (models.uses_temperature); the model then gets temperature=schedule(state.step) and
  rngs={'lps': lps_key}. None: the model is called as before.
  A non-finite loss or gradient leaves params, batch statistics and optimiser state as they
  were and records the step in `state.bad_step`; after that, no update is applied.
  """

  def update(state: TrainState, inputs, labels, lps_key=None) -> TrainState:
    batch_size = inputs.shape[0]
    sampling = ({} if temperature_schedule is None else
                dict(temperature=temperature_schedule(state.step), rngs={"lps": lps_key}))

    def loss_fn(params):
      variables = {"params": params}
      if state.batch_stats:
        variables["batch_stats"] = state.batch_stats
        logits, updates = model.apply(variables, inputs, train=True, mutable=["batch_stats"],
                                      **sampling)
        new_batch_stats = updates["batch_stats"]
      else:
        logits = model.apply(variables, inputs, train=True, **sampling)
        new_batch_stats = state.batch_stats
      loss = cross_entropy(logits, labels, num_classes, label_smoothing)
      return loss, (logits, new_batch_stats)

    (loss, (logits, new_batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, new_opt_state = tx.update(grads, state.opt_state, state.params)
    new_params = optax.apply_updates(state.params, updates)

    finite = jnp.isfinite(loss) & _all_finite(grads) & (state.bad_step < 0)
    keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
    correct = jnp.sum(jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return state.replace(
        step=state.step + 1,
        params=keep(new_params, state.params),
        batch_stats=keep(new_batch_stats, state.batch_stats),
        opt_state=keep(new_opt_state, state.opt_state),
        bad_step=jnp.where((state.bad_step < 0) & ~finite, state.step, state.bad_step),
        loss_sum=state.loss_sum + jnp.where(finite, loss, 0.0) * batch_size,
        correct_sum=state.correct_sum + jnp.where(finite, correct, 0.0),
        count=state.count + jnp.where(finite, batch_size, 0).astype(jnp.float32),
    )

  return update


def make_train_step(model: nn.Module, tx: optax.GradientTransformation, augment: AugmentFn,
                    *, batch_size: int, steps_per_epoch: int, num_classes: int,
                    label_smoothing: float, batch_sharding: jax.sharding.Sharding,
                    temperature_schedule=None):
  """Returns `train_step(state, root_key, images, labels, permutation) -> state` (not jitted).

  Args (of the returned function):
    state: TrainState.
    root_key: the run's root PRNG key.
    images: uint8 (N, 32, 32, 3), the whole training set, on the device.
    labels: int32 (N,).
    permutation: int32 (N,), this epoch's order (`epoch_permutation`).
  The batch is rows [p * batch_size, (p + 1) * batch_size) of the permutation, where
  p = state.step mod steps_per_epoch, so data order is a function of step and seed only.
  """
  update = make_update_fn(model, tx, num_classes=num_classes, label_smoothing=label_smoothing,
                          temperature_schedule=temperature_schedule)

  def train_step(state: TrainState, root_key, images, labels, permutation) -> TrainState:
    position = state.step % steps_per_epoch
    indices = jax.lax.dynamic_slice_in_dim(permutation, position * batch_size, batch_size)
    indices = jax.lax.with_sharding_constraint(indices, batch_sharding)
    batch_images = jnp.take(images, indices, axis=0).astype(jnp.float32)
    batch_labels = jnp.take(labels, indices, axis=0)
    key = augment_key(root_key, state.step)
    context = {}
    if getattr(augment, "needs_loss", False):
      context["loss_fn"] = make_candidate_loss_fn(
          model, state, batch_labels, num_classes=num_classes, label_smoothing=label_smoothing)
    if getattr(augment, "needs_examples", False):
      context.update(example_keys=example_keys(root_key, indices),
                     epoch=state.step // steps_per_epoch)
    batch_images = augment(key, batch_images, **context)
    lps_key = jax.random.fold_in(jax.random.fold_in(root_key, _LPS_STREAM), state.step)
    return update(state, normalize(batch_images), batch_labels, lps_key)

  return train_step


def jit_train_step(train_step, replicated: jax.sharding.Sharding):
  """`jax.jit` of a make_train_step function as the training loop runs it: the state
  (argument 0) is donated, so its buffers are reused for the new state instead of being
  copied (on every backend that supports donation, CPU included), and the new state is
  replicated over the mesh. Lower and compile it with the first step's arguments."""
  return jax.jit(train_step, donate_argnums=0, out_shardings=replicated)
