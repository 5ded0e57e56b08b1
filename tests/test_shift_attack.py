"""The sub-pixel adversary (evaluate/attack.py, protocol shift_attack): signed-gradient descent
of the margin of the unshifted prediction over continuous shifts, with a decaying step, from
grid and random starts."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from common.registry import UnknownNameError
from evaluate import adversarial, attack, grid, protocols, report
from evaluate.engines import ENGINES, engine_of
from models.alias_free import alias_free_poly
from runtime.accuracy import make_predict_fn


def _images(count, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def _circular_conv(x, kernel):
  """(B, H, W, C) * (3, 3, C, D), circular padding, stride 1."""
  x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _invariant_predict(weights, x):
  """Invariant to every continuous circular shift of a band-limited input, by construction:
  stride-1 circular convolutions (diagonal in the Fourier basis, like the shift), the
  degree-2 polynomial on the x2 grid (no aliasing of maps without Nyquist content) and global
  average pooling."""
  y = (x - 127.5) / 64.0
  y = alias_free_poly(_circular_conv(y, weights["conv1"]))
  y = alias_free_poly(_circular_conv(y, weights["conv2"]))
  return jnp.mean(y, axis=(1, 2)) @ weights["dense"]


def _invariant_weights(seed=0):
  rng = np.random.default_rng(seed)
  return {"conv1": jnp.asarray(rng.normal(0, 0.3, (3, 3, 3, 4)), jnp.float32),
          "conv2": jnp.asarray(rng.normal(0, 0.3, (3, 3, 4, 4)), jnp.float32),
          "dense": jnp.asarray(rng.normal(0, 1.0, (4, 3)), jnp.float32)}


@pytest.mark.slow
def test_the_attack_finds_nothing_on_a_network_invariant_by_construction():
  weights = _invariant_weights()
  images = _images(2)
  attack_options = dict(grid_step=0.5, max_shift=2.0, grid_starts=1, random_starts=2,
                        steps=3, step_size=0.37, band_limit=True)
  protocol = protocols.build_protocol("shift_attack", **attack_options)
  labels = np.array([0, 1], np.int32)  # whatever the network says: accuracy is unchanged
  result = attack.run_attack(_invariant_predict, weights, images, labels, protocol)
  assert result.num_visited == 9 * 9 + 1 + 3 * 4
  assert np.all(result.stable) and np.all(result.grid_stable)
  np.testing.assert_array_equal(result.correct, result.reference_correct)
  logits = np.asarray(_invariant_predict(weights, jnp.asarray(images, jnp.float32)))
  assert np.max(result.logit_spread) < 1e-4 * np.abs(logits).max()
  # The same network on raw images (Nyquist content at the first polynomial) does move.
  raw = jnp.asarray(images, jnp.float32)
  raw_protocol = protocols.build_protocol("shift_attack", **dict(attack_options,
                                                                 band_limit=False))
  moved = np.asarray(_invariant_predict(weights, jax.vmap(
      lambda image: raw_protocol.transform(image, jnp.array([0.5, 0.0])))(raw)))
  assert np.abs(moved - logits).max() > 1e-3 * np.abs(logits).max()


@functools.lru_cache(maxsize=None)
def _strided_alexnet():
  model = models.build_model("alexnet", width=4, hidden_units=(8,), padding="circular")
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  return make_predict_fn(model), variables


@pytest.mark.slow
def test_on_a_strided_network_the_attack_is_at_most_the_exhaustive_integer_grid():
  """Within |dy|, |dx| <= 3 to keep it cheap; on the torus (max_shift=None, the default) the
  grid phase is likewise circular_shift's full grid image for image
  (tests/test_fractional_adversarial.py, unit-step torus)."""
  predict, variables = _strided_alexnet()
  images = _images(2, seed=1)
  labels = np.asarray(predict(variables, jnp.asarray(images, jnp.float32))).argmax(-1)
  circular = grid.evaluate_grid(predict, variables, images, labels,
                                protocols.build_protocol("circular_shift", max_shift=3))
  correct_everywhere = (circular.probs.argmax(-1) == labels[:, None]).all(1)
  protocol = protocols.build_protocol("shift_attack", grid_step=1.0, max_shift=3.0,
                                      grid_starts=1, random_starts=1, steps=2)
  result = attack.run_attack(predict, variables, images, labels, protocol,
                             images_per_chunk=1)  # two chunks of images
  # Its grid phase is the circular grid image for image; the ascent can only add breaks.
  np.testing.assert_array_equal(result.grid_correct, correct_everywhere)
  assert np.all(result.correct <= result.grid_correct)
  assert np.all(result.stable <= result.grid_stable)
  assert np.all(result.reference_correct)
  entry = attack.attack_entry(result, protocol_type="shift_attack", seconds=0.0)
  exhaustive = adversarial.adversarial_summary(circular)["worst_case_accuracy"]["mean"]
  assert entry["metrics"]["worst_case_accuracy"]["mean"] <= exhaustive
  assert entry["adversarial"]["grid"]["worst_case_accuracy"]["mean"] == exhaustive
  assert entry["num_grid_points"] == 49 + 1 + 2 * 3
  assert ("every 1-pixel shift of |dy|, |dx| <= 3.0 (raw image), then signed-gradient descent "
          "of the margin") in entry["adversarial"]["over"]
  assert "2 steps of 0.25 down to 0.01 px" in entry["adversarial"]["over"]
  values = attack.per_image_values(result)
  assert values.values["worst_case_accuracy"].shape == (2, 1)
  assert np.isnan(values.values["p_top1_change"]).all()
  np.testing.assert_array_equal(values.values["grid_worst_case_accuracy"][:, 0],
                                correct_everywhere)
  # The worst shift is where the lowest margin of the unshifted prediction was found
  # (recomputed there; labels are that prediction here).
  shift = result.worst_shift[0]
  moved = protocol.transform(jnp.asarray(images[0], jnp.float32), jnp.asarray(shift))
  logits = np.asarray(predict(variables, moved[None]), np.float64)[0]
  margin = logits[labels[0]] - np.delete(logits, labels[0]).max()
  assert margin == pytest.approx(result.worst_margin[0], rel=1e-3, abs=1e-4)


def _cosine_predict(_, x):
  """Two logits: (pixel (0, 0) - 128) / 10 and 0. For the image 128 + 100 cos(2 pi (y + x)
  / 32), shifted by (dy, dx), pixel (0, 0) is 128 + 100 cos(2 pi (dy + dx) / 32): the loss of
  label 0 is largest at dy + dx = 16 (mod 32)."""
  first = (x[:, 0, 0, 0] - 128.0) / 10.0
  return jnp.stack([first, jnp.zeros_like(first)], axis=-1)


@pytest.mark.slow
def test_the_ascent_climbs_to_the_worst_shift_of_a_smooth_landscape():
  coords = np.arange(32)
  wave = 128 + 100 * np.cos(2 * np.pi * (coords[:, None] + coords[None, :]) / 32)
  image = np.repeat(np.round(wave)[None, :, :, None], 3, axis=-1).astype(np.uint8)
  protocol = protocols.build_protocol("shift_attack", grid_step=0.0, grid_starts=0,
                                      random_starts=3, steps=24, step_size=2.0,
                                      final_step_size=0.05)
  result = attack.run_attack(_cosine_predict, None, image, np.zeros(1, np.int32), protocol,
                             seed=3)
  # The margin of class 0 (the unshifted top-1) is lowest at pixel value 28: logit 0 = -10.
  assert result.worst_margin[0] == pytest.approx(-10.0, rel=0.02)
  assert abs((result.worst_shift[0].sum() % 32) - 16) <= 1.0
  assert np.all((result.worst_shift >= 0) & (result.worst_shift < 32))  # on the torus
  assert not result.correct[0] and not result.stable[0]
  # Without steps only the random starts are evaluated: the ascent made the difference.
  still = protocols.build_protocol("shift_attack", grid_step=0.0, grid_starts=0,
                                   random_starts=3, steps=0)
  starts_only = attack.run_attack(_cosine_predict, None, image, np.zeros(1, np.int32), still,
                                  seed=3)
  assert starts_only.worst_margin[0] > result.worst_margin[0]


def _cosine_image():
  coords = np.arange(32)
  wave = 128 + 100 * np.cos(2 * np.pi * (coords[:, None] + coords[None, :]) / 32)
  return np.repeat(np.round(wave)[None, :, :, None], 3, axis=-1).astype(np.uint8)


def _cosine_predict_threshold_40(_, x):
  """As _cosine_predict, but class 0 wins unless pixel (0, 0) is below 40: the top-1 changes
  only for dy + dx within about 2.5 of 16 (mod 32), a small part of the torus."""
  first = (x[:, 0, 0, 0] - 40.0) / 10.0
  return jnp.stack([first, jnp.zeros_like(first)], axis=-1)


@pytest.mark.slow
def test_a_prediction_change_counts_when_the_clean_prediction_was_wrong():
  """Label 1 while the unshifted image is class 0: the margin of class 0 (not the true
  class's loss, which the shift only lowers by moving away) is what the descent attacks, so
  it finds the shifts where the prediction changes, which its start alone does not."""
  image, label = _cosine_image(), np.ones(1, np.int32)
  options = dict(grid_step=0.0, grid_starts=0, random_starts=1, step_size=2.0,
                 final_step_size=0.05)
  still = attack.run_attack(_cosine_predict_threshold_40, None, image, label,
                            protocols.build_protocol("shift_attack", steps=0, **options),
                            seed=3)
  assert not still.reference_correct[0] and still.stable[0]  # its start changes nothing
  result = attack.run_attack(_cosine_predict_threshold_40, None, image, label,
                             protocols.build_protocol("shift_attack", steps=24, **options),
                             seed=3)
  assert not result.reference_correct[0] and not result.correct[0]
  assert not result.stable[0] and result.worst_margin[0] < 0
  assert result.worst_margin[0] == pytest.approx(-1.2, abs=0.05)  # pixel 28: (28 - 40) / 10


def test_the_step_decays_geometrically_from_step_size_to_final_step_size():
  options = protocols.build_protocol("shift_attack", steps=5, step_size=0.5,
                                     final_step_size=0.03125).options
  np.testing.assert_allclose(attack.step_sizes(options), [0.5, 0.25, 0.125, 0.0625, 0.03125],
                             rtol=1e-6)
  one = dict(options, steps=1)
  np.testing.assert_array_equal(attack.step_sizes(one), [0.5])
  margins = attack.probability_margins(np.array([[[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]]),
                                       np.array([0]))
  np.testing.assert_allclose(margins, [[np.log(0.7 / 0.2), np.log(0.1 / 0.6)]])


def _margins_at(predict, variables, image, shifts, protocol, label):
  """(P,) the margin of class `label` at each (dy, dx) of shifts (P, 2)."""
  moved = jax.vmap(lambda shift: protocol.transform(jnp.asarray(image, jnp.float32), shift))(
      jnp.asarray(shifts, jnp.float32))
  logits = np.asarray(predict(variables, moved), np.float64)
  return logits[:, label] - np.delete(logits, label, axis=1).max(1)


@pytest.mark.slow
def test_on_a_strided_network_the_worst_shift_leaves_the_quarter_pixel_lattice():
  """A strided network with random weights: the margin of the unshifted prediction over
  continuous shifts within one pixel has its minimum off the quarter-pixel lattice (checked on
  a 1/16-pixel grid), and the descent, started from the lattice's worst point, goes below the
  lattice's minimum at a shift that is no multiple of 0.25 pixel (a constant step of 0.25
  from a lattice point could not leave the lattice)."""
  predict, variables = _strided_alexnet()
  image = _images(1, seed=2)
  label = np.asarray(predict(variables, jnp.asarray(image, jnp.float32))).argmax(-1)
  protocol = protocols.build_protocol("shift_attack", grid_step=0.25, max_shift=1.0,
                                      grid_starts=1, random_starts=0, steps=12,
                                      step_size=0.125, final_step_size=0.004)
  lattice = np.stack(np.meshgrid(np.arange(-4, 5) / 4, np.arange(-4, 5) / 4), -1).reshape(-1, 2)
  fine = np.stack(np.meshgrid(np.arange(-16, 17) / 16, np.arange(-16, 17) / 16),
                  -1).reshape(-1, 2)
  lattice_min = _margins_at(predict, variables, image[0], lattice, protocol, label[0]).min()
  fine_min = _margins_at(predict, variables, image[0], fine, protocol, label[0]).min()
  assert fine_min < lattice_min - 1e-4  # a better shift off the lattice exists
  result = attack.run_attack(predict, variables, image, label, protocol)
  assert result.worst_margin[0] < lattice_min - 1e-5
  off_lattice = np.abs(result.worst_shift[0] * 4 - np.round(result.worst_shift[0] * 4))
  assert off_lattice.max() > 1e-3
  assert np.all(np.abs(result.worst_shift[0]) <= 1.0)


def test_a_box_keeps_every_iterate_inside():
  protocol = protocols.build_protocol("shift_attack", grid_step=0.5, max_shift=1.0,
                                      grid_starts=2, random_starts=1, steps=5, step_size=0.4)
  assert protocol.grid_protocol.num_points == 25
  clipped = np.asarray(protocol.project(jnp.asarray([[3.0, -0.5], [-7.0, 1.2]])))
  np.testing.assert_array_equal(clipped, [[1.0, -0.5], [-1.0, 1.0]])
  starts = attack.random_starts(protocol, 5, seed=0)
  assert starts.shape == (5, 1, 2) and np.all(np.abs(starts) <= 1.0)
  np.testing.assert_array_equal(starts, attack.random_starts(protocol, 5, seed=0))


@pytest.mark.parametrize("options, field", [
    (dict(grid_step=0.3), "shift_attack.grid_step"),
    (dict(grid_step=0.0), "grid_starts needs a grid"),
    (dict(grid_starts=0, random_starts=0), "at least one start"),
    (dict(steps=-1), "shift_attack.steps"),
    (dict(step_size=0.0), "shift_attack.step_size"),
    (dict(final_step_size=0.0), "shift_attack.final_step_size"),
    (dict(step_size=0.25, final_step_size=0.5), "shift_attack.final_step_size"),
    (dict(max_shift=0.75, grid_step=0.5), "shift_attack.grid_step / max_shift"),
    (dict(band_limit=1), "shift_attack.band_limit"),
    (dict(grid_step=1.0, max_shift=1.0, grid_starts=10), "more than the 9 grid points"),
])
def test_invalid_attack_options_fail_at_build_time(options, field):
  with pytest.raises(ValueError, match=field):
    protocols.build_protocol("shift_attack", **options)


def test_every_protocol_kind_has_an_engine():
  assert engine_of(protocols.build_protocol("shift_attack")) is ENGINES.get("attack")
  assert engine_of(protocols.build_protocol("circular_shift")) is ENGINES.get("grid")
  with pytest.raises(UnknownNameError):
    ENGINES.get("nope")
  with pytest.raises(ValueError, match="needs a grid protocol"):  # the layer analyses' check
    protocols.build_grid_protocol_from_config(dict(type="shift_attack"))
  # The memory bound is checked before anything runs.
  predict, variables = _strided_alexnet()
  with pytest.raises(ValueError, match="too large for the memory bound"):
    attack.check_fits(protocols.build_protocol("shift_attack", grid_step=0.0, grid_starts=0),
                      predict, variables, max_chunk_bytes=1024)


def test_the_attack_entry_reads_in_the_summary():
  result = attack.AttackResult(
      labels=np.zeros(2, np.int32), options=protocols.build_protocol("shift_attack").options,
      reference_correct=np.array([True, True]), grid_correct=np.array([True, False]),
      grid_stable=np.array([True, False]), correct=np.array([False, False]),
      stable=np.array([True, False]), worst_margin=np.array([1.0, -2.0], np.float32),
      worst_shift=np.zeros((2, 2), np.float32), logit_spread=np.array([0.1, 0.2], np.float32),
      num_visited=1036)
  entry = attack.attack_entry(result, protocol_type="shift_attack", seconds=1.0)
  assert entry["adversarial"]["grid"]["ascent_gain"] == {"worst_case_accuracy": 1,
                                                        "stable_prediction": 0}
  markdown = report.markdown_summary({
      "workdir": "w", "checkpoint_step": 1, "model": {"name": "m"}, "num_images": 2,
      "image_selection": "first", "seed": 0, "clean_accuracy": {"mean": 1.0, "stderr": 0.0},
      "protocols": {"adversary": entry}})
  row = [line for line in markdown.splitlines() if line.startswith("| adversary")][0]
  assert "| shift_attack (raw) | 2 | attack | 1036 | 0 | 1.0000" in row
  assert "n/a" in row  # no pair metrics
  assert "`adversary`: worst case over every 1-pixel shift of the torus" in markdown
  assert "(not exhaustive)" in markdown
  assert "(sampled pairs)" not in markdown  # not exhaustive, but nothing was sampled


def _fake_attack(seed, count=40):
  rng = np.random.default_rng(seed)
  broken = rng.random(count) < 0.4
  return attack.AttackResult(
      labels=np.zeros(count, np.int32), options=protocols.build_protocol("shift_attack").options,
      reference_correct=np.ones(count, bool), grid_correct=~broken | (rng.random(count) < 0.3),
      grid_stable=~broken, correct=~broken, stable=~broken,
      worst_margin=rng.normal(size=count).astype(np.float32),
      worst_shift=rng.uniform(0, 32, (count, 2)).astype(np.float32),
      logit_spread=rng.random(count).astype(np.float32), num_visited=1091)


def test_attacks_are_compared_across_runs_from_their_per_image_files(tmp_path):
  """The per-image file holds an attack like any protocol; a paired comparison bootstraps its
  three metrics (the pair metrics and consistency are NaN: left out, without warnings)."""
  import warnings  # pylint: disable=g-import-not-at-top
  from evaluate.stats import paired, per_image  # pylint: disable=g-import-not-at-top
  runs = []
  for seed in (0, 1):
    result = _fake_attack(seed)
    path = per_image.save(
        str(tmp_path / f"{seed}.npz"), image_indices=np.arange(40), labels=np.zeros(40),
        clean_correct=np.ones(40), protocols={"adversary": per_image.ProtocolValues(
            "shift_attack", result.options, False, attack.per_image_values(result))})
    loaded = per_image.load(path)
    assert loaded.protocols["adversary"].per_image.values["worst_dx"].shape == (40, 1)
    runs.append(paired.Run(f"run{seed}", (path,), (loaded,)))
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    comparison = paired.compare_pair(*runs, replicates=200)
  assert list(comparison["protocols"]["adversary"]["metrics"]) == [
      "accuracy", "worst_case_accuracy", "stable_prediction"]
