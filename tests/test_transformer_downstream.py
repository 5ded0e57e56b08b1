"""The vision transformers (vit, cct, afvit) through everything downstream of training: every
evaluation protocol's engine and the shift attack on two random images, the layer analyses'
capture of their token maps, and the transformers sweep (configs/sweeps/transformers.py)."""
import functools
import json

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


# (transformer, protocol type) pairs run: every protocol type on the most composite
# transformer (APS patch embedding, PEG), and each other transformer under the two engines
# whose use of the model differs most (the attack's gradient with respect to the shift; the
# Fourier shift of the images). The engines see a model only through its predict function,
# so the full product (24 compilations, about 100 s of CPU) adds little to these 12.
ENGINE_CASES = ([("vit_aps_peg", protocol_type) for protocol_type in sorted(PROTOCOL_ENTRIES)]
                + [(label, protocol_type) for label in ("afvit", "cct", "vit_stride")
                   for protocol_type in ("fractional_shift", "shift_attack")])


@pytest.mark.slow
@pytest.mark.parametrize("label, protocol_type", ENGINE_CASES)
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
  print(f"{label} {protocol_type}: max logit change {change:.2e}, logit scale {scale:.2e}")
  if invariant:
    assert change <= 1e-5 * max(scale, 1.0), (change, scale)
  else:
    assert change > 1e-3 * scale, (change, scale)


def test_token_sequences_are_read_as_grids_and_class_tokens_refused():
  from common.errors import ConfigError  # pylint: disable=g-import-not-at-top
  from evaluate.layers import capture  # pylint: disable=g-import-not-at-top
  tokens = jnp.arange(2 * 16 * 3, dtype=jnp.float32).reshape(2, 16, 3)
  grid = capture.as_grid(tokens)
  assert grid.shape == (2, 4, 4, 3)
  np.testing.assert_array_equal(grid[:, 1, 2], tokens[:, 1 * 4 + 2])  # row-major
  assert capture.as_grid(tokens[:, :1]).shape == (2, 3)
  assert capture.as_grid(tokens[0]).shape == (16, 3)  # not a batch of sequences: unchanged
  with pytest.raises(ConfigError, match="square grid.*blocks/cls"):
    capture.tokens_checked({"blocks/cls": jnp.zeros((2, 17, 3))})


def _tiny_vit_workdir(tmp_path, **model_options):
  """A workdir holding a random-init tiny vit checkpoint, as train.py writes it."""
  from tests.conftest import tiny_config  # pylint: disable=g-import-not-at-top
  from runtime import checkpointing, run_files  # pylint: disable=g-import-not-at-top
  config = tiny_config()
  config.model = dict(name="vit", **TINY, **model_options)
  options = dict(config.model)
  model = models.build_model(**options)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  workdir = tmp_path / "run"
  with checkpointing.CheckpointWriter(str(workdir), keep=1) as writer:
    writer.save(1, {"params": variables["params"], "batch_stats": {}},
                json.loads(config.to_json()))
  (workdir / run_files.CONFIG_FILE).write_text(config.to_json())
  return str(workdir)


@pytest.mark.slow
def test_layer_analyses_read_the_token_maps_of_a_vit(tmp_path):
  """shiftability and the Lie derivative on a tiny vit with APS patches, peg and circular
  padding: its token maps move by whole tokens exactly under shifts by a patch (equivariance
  error at float rounding), its pooled output is unchanged by every integer shift; the
  layer-wise Lie derivative is refused with its reason."""
  from common.errors import ConfigError  # pylint: disable=g-import-not-at-top
  from data.arrays import CifarArrays  # pylint: disable=g-import-not-at-top
  from evaluate.layers import config as layers_config, runner  # pylint: disable=g-import-not-at-top
  workdir = _tiny_vit_workdir(tmp_path, downsample="aps", posemb="peg", padding="circular")
  config = layers_config.default_layers_config()
  config.analyses = "shiftability,lie_derivative"
  config.num_images, config.images_per_chunk = 2, 2
  config.shiftability.shifts = ((4, 0), (0, -4), (1, 0))
  config.shiftability.feature_map_images = 1
  config.shiftability.feature_map_shifts = 1
  config.shiftability.feature_map_layers = 1
  images = _images(4)
  data = CifarArrays(images, np.arange(4) % 10, images, np.arange(4) % 10,
                     tuple(str(i) for i in range(10)))
  report = runner.analyse_workdir(workdir, config, data=data, verbose=False)
  layers = {entry["name"]: entry for entry in report["analyses"]["shiftability"]["layers"]}
  assert layers["patch_embedding"]["stride"] == 4
  assert layers["encoder/block1"]["stride"] == 4
  assert layers["head"]["stride"] is None
  for name in ("encoder/pool", "head"):  # invariant: float rounding (about 1e-7 measured)
    assert layers[name]["equivariance_error"]["mean"] < 1e-5, name
  lie = report["analyses"]["lie_derivative"]
  assert {entry["name"] for entry in lie["layers"]} == set(layers)
  assert lie["layers"][0]["target"] == "equivariance"
  config.analyses = "lie_derivative_layerwise"
  with pytest.raises(ConfigError, match="vision transformer"):
    runner.analyse_workdir(workdir, config, data=data, verbose=False)


def test_the_transformers_sweep_members_set_their_own_model_section_and_recipe():
  from configs import scales  # pylint: disable=g-import-not-at-top
  from configs.sweeps import transformers  # pylint: disable=g-import-not-at-top
  from sweeps import expand_sweep  # pylint: disable=g-import-not-at-top
  members = {m.group: m.config for m in expand_sweep(transformers.get_config("cpu"))}
  assert list(members) == ["vit_stride", "vit_aps_peg", "afvit", "cct", "resnet20_stride"]
  assert [members[g].model.name for g in members] == ["vit", "vit", "afvit", "cct", "resnet20"]
  for group in ("vit_stride", "vit_aps_peg", "afvit", "cct"):
    model = members[group].model
    assert (model.width, model.depth, model.num_heads) == (32, 2, 2), group
    assert members[group].train.optimizer == "adamw"
  assert members["resnet20_stride"].model.width == scales.CPU_RESNET_WIDTH
  assert members["resnet20_stride"].train.optimizer == "sgd"
  aps = members["vit_aps_peg"].model
  assert (aps.downsample, aps.posemb, aps.padding, aps.pool) == ("aps", "peg", "circular", "gap")
  protocols = members["afvit"].eval.protocols
  assert {"circular", "fractional_half", "crop", "embed_black", "embed_scale"} <= set(protocols)
  assert protocols.fractional_half.step == 0.5 and not protocols.fractional_half.band_limit
  assert len({m.train.num_epochs for m in members.values()}) == 1  # the same training length
  with pytest.raises(ValueError, match="cpu_seeds"):
    transformers.get_config("cpu_trained")


@pytest.mark.slow
def test_a_transformers_sweep_member_trains_and_evaluates_in_process(tmp_path):
  """vit_aps_peg of the ':cpu' sweep, shrunk to 2 steps on synthetic data with one protocol:
  trained, evaluated and collected as a sweep member; exactly invariant to the sampled rolls."""
  from configs.sweeps import transformers  # pylint: disable=g-import-not-at-top
  from sweeps import collect, expand_sweep, runner  # pylint: disable=g-import-not-at-top
  sweep = transformers.get_config("cpu")
  sweep.members = [m for m in sweep.members if m["label"] == "vit_aps_peg"]
  base = sweep.base
  base.data.source, base.data.train_subset = "synthetic", 0
  base.data.synthetic_train_size, base.data.synthetic_test_size = 64, 16
  base.train.num_steps, base.train.batch_size, base.train.eval_batch_size = 2, 32, 16
  base.train.log_every_steps = base.train.checkpoint_every_steps = 2
  base.eval.num_images, base.eval.num_jagged_images = 2, 0
  base.eval.protocols = dict(circular=dict(type="circular_shift", sample_pairs=2))
  (member,) = expand_sweep(sweep)
  member.config.model.width, member.config.model.depth = 8, 1
  runner.validate_members([member], evaluate=True)
  outcome = runner.run_member(member, str(tmp_path), evaluate=True)
  assert outcome.state == runner.DONE, outcome
  collect.collect_sweep(str(tmp_path), [member])  # summary.csv holds its model section
  entry = collect.read_member(str(tmp_path), member).report["protocols"]["circular"]
  assert entry["max_logit_change"] < 1e-4, entry["max_logit_change"]
