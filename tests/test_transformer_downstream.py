"""The vision transformers (vit, cct, afvit) through everything downstream of training: every
evaluation protocol's engine and the shift attack on two random images, the layer analyses'
capture of their token maps, and the transformers sweep (configs/sweeps/transformers.py)."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from evaluate import protocols
from evaluate.engines import engine_of
from runtime.accuracy import make_predict_fn

# label -> model options at a tiny size (the sweep's members, shrunk).
TINY = dict(width=8, depth=1, num_heads=2, num_classes=10)
TRANSFORMERS = {
    "vit_stride": dict(name="vit", **TINY),
    "vit_aps_peg": dict(name="vit", downsample="aps", posemb="peg", padding="circular",
                        pool="gap", **TINY),
    "afvit": dict(name="afvit", **TINY),
    "cct": dict(name="cct", conv_layers=2, **TINY),
}
# One small entry of every protocol type (PROTOCOLS), and the shift attack.
PROTOCOL_ENTRIES = {
    "circular_shift": dict(sample_pairs=2),
    "crop_shift": dict(sample_pairs=2),
    "embed_shift": dict(sizes=(24,), sample_pairs=2),
    "embed_scale": dict(sizes=(28, 29)),
    "fractional_shift": dict(step=0.5, max_shift=0.5),
    "shift_attack": dict(grid_step=1.0, max_shift=1.0, grid_starts=1, random_starts=1, steps=1),
}


@functools.lru_cache(maxsize=None)
def _built(label):
  options = dict(TRANSFORMERS[label])
  model = models.build_model(options.pop("name"), **options)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  return model, variables


def _images(count=2, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def test_every_protocol_type_is_listed():
  assert sorted(PROTOCOL_ENTRIES) == sorted(protocols.PROTOCOLS.names())


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(TRANSFORMERS))
@pytest.mark.parametrize("protocol_type", sorted(PROTOCOL_ENTRIES))
def test_every_protocol_engine_runs_on_each_transformer(label, protocol_type):
  model, variables = _built(label)
  protocol = protocols.build_protocol(protocol_type, **PROTOCOL_ENTRIES[protocol_type])
  engine = engine_of(protocol)
  images, labels = _images(), np.array([3, 7], np.int32)
  result = engine.run(make_predict_fn(model), variables, images, labels, protocol, seed=0)
  values = engine.values(result, seed=0)
  entry = engine.entry(result, protocol_type=protocol_type, seconds=0.0, seed=0, values=values)
  assert entry["metrics"]
  for metric in entry["metrics"].values():
    mean = metric["mean"] if isinstance(metric, dict) else metric
    assert mean is None or np.isfinite(mean)


@pytest.mark.slow
@pytest.mark.parametrize("label, protocol_type, options, invariant", [
    ("vit_aps_peg", "circular_shift", dict(max_shift=2), True),
    ("afvit", "circular_shift", dict(max_shift=2), True),
    ("afvit", "fractional_shift", dict(step=0.5, max_shift=1.0), True),
    ("vit_stride", "circular_shift", dict(max_shift=2), False),
])
def test_the_exact_members_are_stable_and_the_plain_vit_moves(label, protocol_type, options,
                                                              invariant):
  """Exactness as the protocols measure it: the largest logit change over the grid, beside
  the logit scale (float32 rounding for the invariant members, far above it for plain vit)."""
  model, variables = _built(label)
  protocol = protocols.build_protocol(protocol_type, **options)
  images = _images()
  result = engine_of(protocol).run(make_predict_fn(model), variables, images,
                                   np.array([0, 1], np.int32), protocol, seed=0)
  entry = engine_of(protocol).entry(result, protocol_type=protocol_type, seconds=0.0, seed=0,
                                    values=engine_of(protocol).values(result, seed=0))
  scale = float(np.abs(np.asarray(make_predict_fn(model)(variables, images))).max())
  change = float(entry["max_logit_change"])
  if invariant:
    assert change <= 1e-5 * max(scale, 1.0), (change, scale)
  else:
    assert change > 1e-3 * scale, (change, scale)
