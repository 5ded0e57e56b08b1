"""The fast recipe's parts: alternating flips, Lookahead, configs/fast.py."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import augment
from augment.flip import alternating_flip_draw
from configs import default, fast
from training.optim import build_optimizer, lookahead
from training.steps import example_keys


def _images(batch=16):
  return jax.random.uniform(jax.random.key(1), (batch, 4, 5, 3), maxval=255.0)


@pytest.mark.slow
def test_alternating_flip_mirrors_each_example_in_every_other_epoch():
  config = augment.default_augment_config()
  config.policies = "alternating_flip"
  run = jax.jit(augment.build_augment(config))
  images = _images()
  keys = example_keys(jax.random.key(0), jnp.arange(16))
  mirrored = np.asarray(images[:, :, ::-1])
  flipped = []
  for epoch in range(4):
    # The step key does not matter: only the example and the epoch do.
    out = np.asarray(run(jax.random.key(epoch + 7), images, example_keys=keys, epoch=epoch))
    is_flipped = np.array([np.array_equal(out[b], mirrored[b]) for b in range(16)])
    assert all(is_flipped[b] or np.array_equal(out[b], np.asarray(images[b]))
               for b in range(16))
    flipped.append(is_flipped)
  assert np.array_equal(flipped[0], ~flipped[1]) and np.array_equal(flipped[0], flipped[2])
  assert np.array_equal(flipped[1], flipped[3])
  assert 0 < flipped[0].sum() < 16  # a coin per example in the first epoch


def test_alternating_flip_first_orientation_is_a_fair_coin_per_example():
  keys = example_keys(jax.random.key(3), jnp.arange(4000))
  first = np.asarray(jax.vmap(alternating_flip_draw, in_axes=(0, None))(keys, 0))
  assert abs(first.mean() - 0.5) < 0.03


def test_example_aware_policy_needs_the_examples():
  config = augment.default_augment_config()
  config.policies = "crop,alternating_flip"
  built = augment.build_augment(config)
  assert built.needs_examples and not built.needs_loss
  with pytest.raises(ValueError, match="alternating_flip.*example_keys"):
    built(jax.random.key(0), _images())
  plain = augment.build_augment(augment.default_augment_config())
  assert not plain.needs_examples


def _quadratic_grads(params):
  return jax.tree.map(lambda p: 2.0 * p, params)


def test_lookahead_with_full_step_is_the_inner_optimiser():
  params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
  inner = optax.sgd(0.1, momentum=0.9)
  wrapped = lookahead(optax.sgd(0.1, momentum=0.9), sync_period=2, slow_step_size=1.0,
                      total_steps=100)
  p_inner, s_inner = params, inner.init(params)
  p_wrapped, s_wrapped = params, wrapped.init(params)
  for _ in range(5):
    u, s_inner = inner.update(_quadratic_grads(p_inner), s_inner, p_inner)
    p_inner = optax.apply_updates(p_inner, u)
    u, s_wrapped = wrapped.update(_quadratic_grads(p_wrapped), s_wrapped, p_wrapped)
    p_wrapped = optax.apply_updates(p_wrapped, u)
  for a, b in zip(jax.tree.leaves(p_inner), jax.tree.leaves(p_wrapped)):
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_lookahead_moves_the_slow_weights_part_of_the_way_every_period():
  params = {"w": jnp.array([1.0, -2.0])}
  wrapped = lookahead(optax.sgd(0.1), sync_period=3, slow_step_size=0.5, total_steps=7)
  state = wrapped.init(params)
  p = params
  history = []
  for step in range(1, 8):
    u, state = wrapped.update(_quadratic_grads(p), state, p)
    p = optax.apply_updates(p, u)
    history.append(np.asarray(p["w"]))
  # Plain SGD on x^2 with rate 0.1 multiplies by 0.8 per step. Steps 1-2 are fast steps;
  # step 3 syncs: slow = 1 + 0.5 (0.8^3 - 1) times the start, and the fast weights restart
  # there; step 6 syncs again, and step 7 (the last) ends on the slow weights.
  start = np.array([1.0, -2.0])
  np.testing.assert_allclose(history[1], 0.8**2 * start, rtol=1e-5)
  slow3 = start + 0.5 * (0.8**3 * start - start)
  np.testing.assert_allclose(history[2], slow3, rtol=1e-5)
  slow6 = slow3 + 0.5 * (0.8**3 * slow3 - slow3)
  np.testing.assert_allclose(history[5], slow6, rtol=1e-5)
  np.testing.assert_allclose(history[6], slow6 + 0.5 * (0.8 * slow6 - slow6), rtol=1e-5)


def test_lookahead_config_is_checked_and_off_by_default():
  train = default.get_config().train
  tx, _ = build_optimizer(train, total_steps=10, steps_per_epoch=5)
  assert type(tx.init({"w": jnp.zeros(2)})).__name__ != "LookaheadState"
  train.lookahead.sync_period = 5
  tx, _ = build_optimizer(train, total_steps=10, steps_per_epoch=5)
  assert type(tx.init({"w": jnp.zeros(2)})).__name__ == "LookaheadState"
  train.lookahead.slow_step_size = 1.5
  with pytest.raises(ValueError, match="slow_step_size"):
    build_optimizer(train, total_steps=10, steps_per_epoch=5)
  train.lookahead.sync_period = -1
  with pytest.raises(ValueError, match="sync_period"):
    build_optimizer(train, total_steps=10, steps_per_epoch=5)


def test_fast_config_builds_and_keeps_evaluation_untouched():
  config = fast.get_config()
  baseline = default.get_config()
  # Nothing that changes what the invariance protocols measure.
  assert config.eval.to_dict() == baseline.eval.to_dict()
  assert config.model.to_dict() == baseline.model.to_dict()
  augment.build_augment(config.augment)
  build_optimizer(config.train, total_steps=100, steps_per_epoch=10)


def test_every_part_changes_training_only_and_unknown_parts_fail():
  assert set(fast.FAST_PARTS) <= set(fast.PARTS)
  baseline = default.get_config()
  for name in fast.PARTS:
    config = fast.apply_parts(default.get_config(), (name,))
    assert config.train.to_dict() != baseline.train.to_dict() or (
        config.augment.to_dict() != baseline.augment.to_dict()), name
    assert config.model.to_dict() == baseline.model.to_dict(), name
    assert config.eval.to_dict() == baseline.eval.to_dict(), name
  with pytest.raises(ValueError, match="unknown fast-recipe part.*valid: label_smoothing"):
    fast.apply_parts(default.get_config(), ("lookahaed",))
  with pytest.raises(ValueError, match="configs/fast.py takes one of"):
    fast.get_config("resnet50")
