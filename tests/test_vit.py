"""The vision transformers (models/vit.py, models/cct.py): exact invariance of the
polyphase-anchored ViT to integer circular shifts (and its failure without anchoring),
option validation, parameter counts from the architecture, shapes, and a real training run."""
from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common.errors import ConfigError
from common.registry import UnknownNameError
from configs import cct as cct_config
from configs import vit as vit_config
from models import build_model, count_params
from models.polyphase import anchor_phase
from models.position import POSITION_ENCODINGS, sincos2d_embedding
from models.random_weights import random_variables
from models.transformer import POOLINGS
from pipeline.train_then_evaluate import train_and_evaluate
from tests.conftest import tiny_config

IMAGE = (32, 32, 3)
# A small ViT: 4 x 4 patches (64 tokens), width 16, 2 blocks of 2 heads.
SMALL_VIT = dict(width=16, depth=2, num_heads=2, mlp_ratio=2.0, patch_size=4)
SMALL_CCT = dict(width=16, depth=1, num_heads=2, mlp_ratio=2.0)
INVARIANT = dict(downsample="aps", padding="circular")
ALL_ROLLS = tuple((a, b) for a in range(IMAGE[0]) for b in range(IMAGE[1]))
# Rolls by fractions of a patch and by whole patches, for the quick tests.
SOME_ROLLS = ((1, 0), (0, 3), (5, 7), (2, 2), (4, 0), (16, 31), (31, 30), (13, 9))
# Largest logit change allowed under rolls, relative to the logit scale: float32 rounding of
# sums over the tokens in another order is ~1e-7 of it (measured: docs/models.md).
ROUNDING = 1e-5


def random_images(seed: int, n: int) -> jnp.ndarray:
  return jax.random.normal(jax.random.PRNGKey(seed), (n, *IMAGE), jnp.float32)


@functools.lru_cache(maxsize=None)
def model_and_variables(name: str, **options):
  model = build_model(name, **options)
  return model, random_variables(model)


def roll_changes(name: str, images, rolls, **options):
  """(largest |logit change|, number of top-1 changes, logit scale) of `name` with `options`
  and random weights over circular `rolls` of `images`, all in one batch."""
  model, variables = model_and_variables(name, **options)
  images = np.asarray(images)  # rolled in numpy: jnp.roll compiles a program per roll
  batch = np.concatenate([images] + [np.roll(images, roll, axis=(1, 2)) for roll in rolls])
  logits = jax.jit(lambda v, x: model.apply(v, x))(variables, batch)
  logits = logits.reshape(len(rolls) + 1, images.shape[0], -1)
  scale = float(jnp.max(jnp.abs(logits[0])))
  # Not vacuous: different images get clearly different logits.
  assert float(jnp.max(jnp.abs(logits[0, 0] - logits[0, 1]))) > 1e-3 * scale > 0
  top1 = jnp.argmax(logits, axis=-1)
  return (float(jnp.max(jnp.abs(logits[1:] - logits[0]))), int(jnp.sum(top1[1:] != top1[0])),
          scale)


# ----------------------------------------------------------------------------------------
# Shift invariance.

def test_anchored_vit_with_peg_is_invariant_to_rolls():
  change, flips, scale = roll_changes("vit", random_images(0, 2), SOME_ROLLS, **SMALL_VIT,
                                      **INVARIANT, posemb="peg", pool="gap")
  assert flips == 0 and change <= ROUNDING * scale


def test_plain_vit_is_not_invariant_to_rolls():
  """The plain patchify and the learned absolute embedding both see the roll."""
  change, _, scale = roll_changes("vit", random_images(0, 2), SOME_ROLLS, **SMALL_VIT)
  assert change > 1e-2 * scale


def test_plain_patchify_with_peg_is_invariant_to_whole_patch_rolls_only():
  """Without anchoring, rolls by whole patches move the tokens by whole tokens (invariant);
  any other roll changes the patches themselves."""
  options = dict(**SMALL_VIT, padding="circular", posemb="peg", pool="gap")
  images = random_images(1, 2)
  change, _, scale = roll_changes("vit", images, ((4, 0), (8, 28), (16, 4)), **options)
  assert change <= ROUNDING * scale
  change, _, scale = roll_changes("vit", images, ((1, 0), (0, 2), (5, 7)), **options)
  assert change > 1e-2 * scale


def test_anchoring_moves_a_rolled_image_by_whole_patches():
  images = random_images(2, 3)
  images = np.asarray(images)
  batch = np.concatenate([images] + [np.roll(images, roll, axis=(1, 2)) for roll in SOME_ROLLS])
  anchored = np.asarray(jax.jit(anchor_phase, static_argnums=1)(batch, 4)).reshape(
      len(SOME_ROLLS) + 1, *images.shape)
  for roll, rolled in zip(SOME_ROLLS, anchored[1:]):
    for n in range(images.shape[0]):
      matches = [(a, b) for a in range(0, 32, 4) for b in range(0, 32, 4)
                 if np.array_equal(np.roll(anchored[0, n], (a, b), axis=(0, 1)), rolled[n])]
      assert len(matches) == 1, (roll, n)


@pytest.mark.slow
@pytest.mark.parametrize("posemb,pool", [("peg", "gap"), ("peg", "map"), ("none", "gap"),
                                         ("none", "map"), ("peg", "cls")])
def test_anchored_vit_is_invariant_to_all_1024_rolls(posemb, pool):
  change, flips, scale = roll_changes("vit", random_images(3, 3), ALL_ROLLS, **SMALL_VIT,
                                      **INVARIANT, posemb=posemb, pool=pool)
  print(f"vit aps {posemb} {pool}: largest logit change {change:.3g} (scale {scale:.3g})")
  assert flips == 0 and change <= ROUNDING * scale


@pytest.mark.slow
def test_plain_vit_changes_under_the_1024_rolls():
  change, flips, scale = roll_changes("vit", random_images(3, 3), ALL_ROLLS, **SMALL_VIT)
  print(f"vit stride learn gap: largest logit change {change:.3g} (scale {scale:.3g}), "
        f"{flips} top-1 changes of {3 * len(ALL_ROLLS)}")
  assert change > 1e-2 * scale


@pytest.mark.slow
@pytest.mark.parametrize("posemb", ["learn", "sincos2d"])
def test_absolute_position_embeddings_break_the_anchored_vit(posemb):
  change, _, scale = roll_changes("vit", random_images(3, 2), SOME_ROLLS, **SMALL_VIT,
                                  **INVARIANT, posemb=posemb, pool="gap")
  assert change > 1e-2 * scale


@pytest.mark.slow
def test_cct_with_aps_tokenizer_is_invariant_to_rolls():
  change, flips, scale = roll_changes("cct", random_images(4, 2), SOME_ROLLS, **SMALL_CCT,
                                      **INVARIANT, blur_size=1, posemb="peg")
  assert flips == 0 and change <= ROUNDING * scale


# ----------------------------------------------------------------------------------------
# Options.

@pytest.mark.parametrize("options,words", [
    (dict(posemb="rope"), ["learn", "none", "peg", "sincos2d"]),
    (dict(pool="max"), ["cls", "gap", "map", "seq"]),
    (dict(downsample="bogus"), ["aps", "stride", "ideal"]),
    (dict(padding="reflect"), ["circular", "zeros"]),
])
def test_unknown_names_list_the_valid_ones(options, words):
  with pytest.raises(UnknownNameError) as error:
    build_model("vit", **options)
  for word in words:
    assert word in str(error.value)


@pytest.mark.parametrize("options,words", [
    (dict(patch_size=0), ["patch_size"]), (dict(patch_size=2.0), ["patch_size"]),
    (dict(depth=0), ["depth"]), (dict(num_heads=5), ["num_heads", "multiple"]),
    (dict(mlp_ratio=0), ["mlp_ratio"]), (dict(width=18, num_heads=2, posemb="sincos2d"),
                                         ["sincos2d", "multiple of 4"]),
    (dict(downsample="lps"), ["lps", "patch_size 4", "stride 2 only"]),
    (dict(width=0), ["width"]),
])
def test_invalid_vit_options_are_config_errors_naming_them(options, words):
  with pytest.raises(ConfigError) as error:
    build_model("vit", **options)
  for word in words:
    assert word in str(error.value)


def test_invalid_cct_options_are_config_errors():
  for options in (dict(conv_layers=0), dict(kernel_size=-1), dict(num_heads=3),
                  dict(pool="bogus"), dict(posemb="bogus")):
    with pytest.raises(ValueError):
      build_model("cct", **options)


def test_a_patch_size_that_does_not_divide_the_image_fails_when_applied():
  model = build_model("vit", **{**SMALL_VIT, "patch_size": 5})
  with pytest.raises(ValueError, match="patch_size 5"):
    jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, *IMAGE))))


def test_every_position_encoding_and_pooling_is_named_in_the_configs():
  for registry, config_field in ((POSITION_ENCODINGS, "posemb"), (POOLINGS, "pool")):
    source = open(vit_config.__file__).read()
    for name in registry:
      assert name in source, (config_field, name)


def test_sincos2d_embedding_is_big_visions():
  embedding = sincos2d_embedding(8, 8, 16)
  assert embedding.shape == (8, 8, 16)
  np.testing.assert_allclose(embedding[0, 0], [0, 0, 0, 0, 1, 1, 1, 1] * 2)
  np.testing.assert_allclose(embedding[2, 3, 0], np.sin(3.0))  # x = 3, lowest frequency 1
  np.testing.assert_allclose(embedding[2, 3, 8], np.sin(2.0))  # y = 2


# ----------------------------------------------------------------------------------------
# Parameter counts and shapes.

def dense(d_in, d_out):
  return d_in * d_out + d_out


def encoder_count(width, depth, mlp_dim, tokens, posemb, pool):
  block = 4 * dense(width, width) + dense(width, mlp_dim) + dense(mlp_dim, width) + 4 * width
  extra = {"learn": tokens * width, "sincos2d": 0, "none": 0, "peg": 9 * width + width}[posemb]
  pooling = {"gap": 0, "cls": width, "seq": dense(width, 1),
             "map": width + 4 * dense(width, width) + 2 * width + dense(width, mlp_dim)
                    + dense(mlp_dim, width)}[pool]
  return depth * block + extra + pooling + 2 * width


def vit_count(width=192, patch=4, depth=6, mlp_ratio=4, posemb="learn", pool="gap"):
  mlp_dim = int(mlp_ratio * width)
  return (patch * patch * 3 * width + width + dense(width, 10)
          + encoder_count(width, depth, mlp_dim, (32 // patch)**2, posemb, pool))


def cct_count(width=256, depth=7, mlp_ratio=2, posemb="learn", pool="seq"):
  return 9 * 3 * width + dense(width, 10) + encoder_count(width, depth, mlp_ratio * width,
                                                           16 * 16, posemb, pool)


def param_count(name, **options):
  model = build_model(name, **options)
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, *IMAGE))))
  return count_params(shapes["params"])


def test_default_param_counts_match_the_architecture():
  assert param_count("vit") == vit_count()
  assert param_count("cct") == cct_count()
  assert 3.7e6 < cct_count() < 3.8e6  # Hassani et al.: CCT-7/3x1 has 3.76M parameters


def test_param_counts_follow_options():
  assert param_count("vit", width=32, patch_size=8, depth=1, num_heads=4, posemb="peg",
                     pool="map") == vit_count(32, 8, 1, 4, "peg", "map")
  assert param_count("vit", width=16, depth=1, num_heads=2, posemb="sincos2d",
                     pool="cls") == vit_count(16, 4, 1, 4, "sincos2d", "cls")
  assert param_count("cct", width=16, depth=2, num_heads=2, pool="gap",
                     posemb="none") == cct_count(16, 2, 2, "none", "gap")


@pytest.mark.parametrize("conv_layers,tokens", [(1, 16), (2, 8)])
def test_cct_forward_shapes(conv_layers, tokens):
  """(traced only: no compilation)"""
  model = build_model("cct", **SMALL_CCT, conv_layers=conv_layers)
  x = random_images(5, 3)
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x))
  assert variables["params"]["encoder"]["posemb"]["pos_embedding"].shape == (tokens, tokens, 16)
  logits = jax.eval_shape(model.apply, variables, x)
  assert logits.shape == (3, 10) and logits.dtype == jnp.float32


def test_every_patch_embedding_strategy_keeps_the_token_grid():
  x = random_images(6, 2)
  for downsample in ("stride", "aps", "blurpool", "ideal"):
    model = build_model("vit", **SMALL_VIT, downsample=downsample, posemb="peg")
    shapes = jax.eval_shape(lambda: model.apply(random_variables(model), x))
    assert shapes.shape == (2, 10), downsample


def patch_embedding_output(model, variables, x):
  _, state = jax.jit(lambda v, x: model.apply(v, x, capture_intermediates=True,
                                              mutable=["intermediates"]))(variables, x)
  return state["intermediates"]["patch_embedding"]["__call__"][0]


def test_patch_conv_at_every_pixel_subsampled_is_the_plain_patchify():
  """What 'blurpool', 'ideal' and 'none' start from: the patch conv at every pixel (window
  starting there), whose every p-th output is the plain stride-p patchify."""
  x = random_images(7, 2)
  plain = build_model("vit", **SMALL_VIT, posemb="none", padding="circular")
  variables = random_variables(plain)
  dense_grid = patch_embedding_output(plain.clone(downsampler=build_model(
      "vit", downsample="none").downsampler), variables, x)
  assert dense_grid.shape == (2, 32, 32, 16)
  np.testing.assert_allclose(dense_grid[:, ::4, ::4], patch_embedding_output(plain, variables, x),
                             atol=1e-5)


# ----------------------------------------------------------------------------------------
# Configs and training.

@pytest.mark.parametrize("module,name", [(vit_config, "vit"), (cct_config, "cct")])
def test_configs_build_their_model(module, name):
  config = module.get_config()
  assert config.model.name == name
  build_model(**config.model)


@pytest.mark.slow
@pytest.mark.parametrize("module,options", [
    (vit_config, dict(width=8, depth=1, num_heads=2, downsample="aps", posemb="peg",
                      padding="circular")),
    (cct_config, dict(width=8, depth=1, num_heads=2)),
])
def test_two_steps_of_the_real_train_loop(tmp_path, module, options):
  config = tiny_config()
  config.model = module.get_config().model
  config.model.update(options)
  config.train.optimizer = "adamw"
  config.train.learning_rate = 1e-3
  config.train.num_steps = 2
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 2
  summary = train_and_evaluate(config, str(tmp_path))
  assert summary["steps"] == 2 and summary["num_params"] > 0
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  losses = [r["train_loss"] for r in records if "train_loss" in r]
  assert len(losses) == 2 and all(np.isfinite(losses))


@pytest.mark.parametrize("width,num_heads", [(48, 4), (48, 3)])
def test_attention_scaling_the_queries_is_scaling_the_logits(width, num_heads):
  """MultiHeadAttention scales the queries by 1/sqrt(head_dim) (cheaper); the textbook form
  scales the logits: the same up to float32 rounding (head dims 12 and 16)."""
  from models.transformer import MultiHeadAttention  # pylint: disable=g-import-not-at-top
  tokens = jax.random.normal(jax.random.PRNGKey(0), (4, 64, width), jnp.float32)
  module = MultiHeadAttention(num_heads)
  params = module.init(jax.random.PRNGKey(1), tokens, tokens)["params"]
  head_dim = width // num_heads
  project = lambda name: (tokens @ params[name]["kernel"] + params[name]["bias"]).reshape(
      4, 64, num_heads, head_dim)
  q, k, v = (project(name) for name in ("query", "key", "value"))
  logits = jnp.einsum("nqhd,nkhd->nhqk", q, k) / np.sqrt(head_dim)
  mixed = jnp.einsum("nhqk,nkhd->nqhd", jax.nn.softmax(logits, axis=-1), v).reshape(4, 64, width)
  reference = mixed @ params["out"]["kernel"] + params["out"]["bias"]
  out = module.apply({"params": params}, tokens, tokens)
  residual = float(jnp.max(jnp.abs(out - reference)) / jnp.max(jnp.abs(reference)))
  assert residual < 1e-5, residual
