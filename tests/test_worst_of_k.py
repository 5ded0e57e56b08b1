"""worst_of_k: k = 1 is the wrapped policy, the argmax-loss candidate is chosen, config checks,
the candidate loss of the train step, and a couple of train steps with it."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import augment
import models
from data.normalize import normalize
from pipeline.train_then_evaluate import train_and_evaluate
from training.candidate_loss import make_candidate_loss_fn
from training.state import TrainState

BATCH = 6


def _images(seed=0):
  return jnp.asarray(np.random.default_rng(seed).uniform(0, 255, (BATCH, 32, 32, 3)),
                     jnp.float32)


def _config(policies, **sections):
  config = augment.default_augment_config()
  config.policies = policies
  for name, options in sections.items():
    config[name].update(options)
  return config


def _no_loss(candidates):
  raise AssertionError("k = 1 must not evaluate any loss")


@pytest.mark.parametrize("policy", augment.WRAPPABLE_POLICIES)
def test_k_equal_1_is_exactly_the_wrapped_policy(policy):
  sections = dict(crop=dict(pad=6), translate=dict(max_shift=5),
                  downsize_embed=dict(min_size=12, max_size=28))
  key, images = jax.random.key(3), _images()
  plain = jax.jit(augment.build_augment(_config(policy, **sections)))(key, images)
  worst = augment.build_augment(_config("worst_of_k", worst_of_k=dict(k=1, policy=policy),
                                        **sections))
  assert worst.needs_loss
  out = jax.jit(lambda key, images: worst(key, images, loss_fn=_no_loss))(key, images)
  np.testing.assert_array_equal(out, plain)
  assert not np.array_equal(plain, images)  # the wrapped policy did move something


@pytest.mark.slow
def test_the_argmax_loss_candidate_is_chosen():
  """Toy loss: the candidate's top-left pixel (red). With a one-pixel-wide bright column
  and circular translations, each candidate's loss is known and the choice can be checked."""
  k, max_shift = 5, 4
  config = _config("worst_of_k", worst_of_k=dict(k=k, policy="translate"),
                   translate=dict(max_shift=max_shift, mode="circular"))
  images = _images(1)
  seen = []

  def toy_loss(candidates):
    seen.append(candidates)
    return candidates[:, :, 0, 0, 0]

  key = jax.random.key(7)
  out = augment.build_augment(config)(key, images, loss_fn=toy_loss)
  (candidates,) = seen
  assert candidates.shape == (BATCH, k, 32, 32, 3)
  candidates, images = np.asarray(candidates), np.asarray(images)
  # Every candidate is a translate draw of its own example, and the draws differ.
  for b in range(BATCH):
    rolls = {np.roll(images[b], (dy, dx), (0, 1)).tobytes()
             for dy in range(-max_shift, max_shift + 1)
             for dx in range(-max_shift, max_shift + 1)}
    assert all(candidate.tobytes() in rolls for candidate in candidates[b])
  assert len({c.tobytes() for c in candidates[0]}) > 1
  losses = candidates[:, :, 0, 0, 0]
  expected = candidates[np.arange(BATCH), losses.argmax(1)]
  np.testing.assert_array_equal(out, expected)
  assert np.all(np.asarray(out)[:, 0, 0, 0] == losses.max(1))
  # The choice sees a new loss: flip the sign and the lowest candidate wins.
  low = augment.build_augment(config)(key, images, loss_fn=lambda c: -c[:, :, 0, 0, 0])
  np.testing.assert_array_equal(low, candidates[np.arange(BATCH), losses.argmin(1)])


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 4])
def test_the_original_image_joins_the_same_draws_when_asked(k):
  sections = dict(translate=dict(max_shift=4, mode="circular"))
  key, images = jax.random.key(11), _images(2)
  seen = {}

  def recording(name, loss):
    def loss_fn(candidates):
      seen[name] = np.asarray(candidates)
      return loss(candidates)
    return loss_fn

  plain = augment.build_augment(_config("worst_of_k", worst_of_k=dict(k=k, policy="translate"),
                                        **sections))
  with_original = augment.build_augment(_config(
      "worst_of_k", worst_of_k=dict(k=k, policy="translate", include_original=True),
      **sections))
  plain(key, images, loss_fn=recording("plain", lambda c: c[:, :, 0, 0, 0]))
  # A loss that prefers the untransformed image: it is chosen for every example.
  reference = np.asarray(images)[:, None]
  out = with_original(key, images, loss_fn=recording(
      "original", lambda c: -jnp.abs(c - reference).sum((2, 3, 4))))
  np.testing.assert_array_equal(out, images)
  assert seen["original"].shape == (BATCH, k + 1, 32, 32, 3)
  np.testing.assert_array_equal(seen["original"][:, 0], images)
  if k > 1:  # k = 1 without the original needs no loss; its draw is the wrapped policy's
    np.testing.assert_array_equal(seen["original"][:, 1:], seen["plain"])
  else:
    np.testing.assert_array_equal(
        seen["original"][:, 1], jax.jit(augment.build_augment(_config("translate", **sections)))(
            key, images))


@pytest.mark.parametrize("options, message", [
    (dict(k=0), "worst_of_k.k"),
    (dict(k=2.5), "worst_of_k.k"),
    (dict(policy="flip"), "worst_of_k.policy.*crop, downsize_embed, translate"),
    (dict(policy="worst_of_k"), "worst_of_k.policy"),
    (dict(bogus=1), "bogus"),
    (dict(include_original="yes"), "worst_of_k.include_original"),
])
def test_bad_worst_of_k_options_fail_when_the_config_is_read(options, message):
  with pytest.raises(ValueError, match=message):
    augment.build_augment(dict(policies="worst_of_k", worst_of_k=options))


def test_the_wrapped_policys_own_options_are_checked_and_the_loss_is_required():
  with pytest.raises(ValueError, match="translate.max_shift"):
    augment.build_augment(_config("worst_of_k", translate=dict(max_shift=-1)))
  built = augment.build_augment(_config("worst_of_k"))
  with pytest.raises(ValueError, match="needs the model's loss"):
    built(jax.random.key(0), _images())
  assert not augment.build_augment(_config("crop,flip")).needs_loss


@pytest.mark.slow
def test_candidate_loss_is_per_candidate_inference_mode_cross_entropy():
  """Each candidate's loss is its own cross-entropy under running BatchNorm statistics:
  independent of the other candidates of the batch."""
  model = models.build_model(name="alexnet", width=4)
  images = _images(2)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), images[:1], train=False))
  assert "batch_stats" in shapes
  rng = np.random.default_rng(0)

  def draw(path, leaf):  # NumPy draws (no slow init compile); running stats away from 0, 1
    name = str(path[-1].key)
    if name == "var":
      return rng.uniform(0.5, 2.0, leaf.shape).astype(leaf.dtype)
    scale = 1.0 if name in ("scale", "mean") else np.sqrt(2 / np.prod(leaf.shape[:-1]))
    return (rng.standard_normal(leaf.shape) * scale).astype(leaf.dtype)

  variables = jax.tree_util.tree_map_with_path(draw, shapes)
  state = TrainState.create(variables, optax.sgd(0.1))
  labels = jnp.arange(BATCH, dtype=jnp.int32) % 10
  loss_fn = jax.jit(make_candidate_loss_fn(model, state, labels, num_classes=10,
                                            label_smoothing=0.0))
  candidates = jnp.stack([images, images[::-1], 255.0 - images], axis=1)  # (B, 3, ...)
  losses = loss_fn(candidates)
  assert losses.shape == (BATCH, 3)
  # Candidate 1 alone: the same loss, and the cross-entropy of a plain inference forward.
  alone = loss_fn(candidates[:, 1:2])[:, 0]
  np.testing.assert_allclose(alone, losses[:, 1], rtol=1e-5)
  logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables,
                                                                 normalize(images[::-1]))
  direct = -jax.nn.log_softmax(logits)[np.arange(BATCH), labels]
  np.testing.assert_allclose(alone, direct, rtol=1e-4)


@pytest.mark.slow
def test_train_loop_runs_with_worst_of_k(tmp_path, tiny):
  tiny.augment.policies = "flip,worst_of_k"
  tiny.augment.worst_of_k.k = 3
  tiny.augment.worst_of_k.policy = "crop"
  tiny.train.num_steps = 2
  tiny.train.log_every_steps = 1
  tiny.train.checkpoint_every_steps = 2
  summary = train_and_evaluate(tiny, str(tmp_path))
  assert summary["steps"] == 2
  assert np.isfinite(summary["final_test_accuracy"])
