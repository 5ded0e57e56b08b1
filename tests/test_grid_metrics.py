"""Grid engine (vmap == loop, memory bound, exact invariance) and metrics (hand-computed)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from evaluate import grid, grid_summary, metrics, protocols, report
from runtime.accuracy import make_predict_fn

# --- metrics on hand-made probabilities -------------------------------------------------------

# 2 images x 3 grid points x 3 classes. Top-1: image 0 -> [0, 1, 0], image 1 -> [2, 2, 2].
PROBS = np.array([
    [[0.7, 0.2, 0.1], [0.4, 0.5, 0.1], [0.6, 0.3, 0.1]],
    [[0.1, 0.1, 0.8], [0.2, 0.1, 0.7], [0.3, 0.3, 0.4]],
], np.float32)
LABELS = np.array([0, 2])
PAIRS = np.array([[0, 1], [1, 2]])


def test_p_top1_change_by_hand():
  # Image 0 changes at both pairs, image 1 at none: per image [1, 0].
  result = metrics.p_top1_change(PROBS, PAIRS)
  assert result["mean"] == pytest.approx(0.5)
  assert result["stderr"] == pytest.approx(np.std([1, 0], ddof=1) / np.sqrt(2))


def test_mac_by_hand():
  # Image 0: |0.7 - 0.4| (class 0), |0.5 - 0.3| (class 1) -> 0.25.
  # Image 1: |0.8 - 0.7|, |0.7 - 0.4| (class 2) -> 0.2.
  result = metrics.mac(PROBS, PAIRS)
  assert result["mean"] == pytest.approx(0.225, abs=1e-6)
  assert result["stderr"] == pytest.approx(np.std([0.25, 0.2], ddof=1) / np.sqrt(2), abs=1e-6)


def test_per_group_pair_metrics_by_hand():
  result = metrics.mac(PROBS, PAIRS, groups=np.array([7, 5]))
  assert result["group"] == [5, 7]
  np.testing.assert_allclose(result["mean"], [(0.2 + 0.3) / 2, (0.3 + 0.1) / 2], atol=1e-6)
  changed = metrics.p_top1_change(PROBS, PAIRS, groups=np.array([7, 5]))
  np.testing.assert_allclose(changed["mean"], [0.5, 0.5])


def test_accuracy_and_worst_case_by_hand():
  np.testing.assert_allclose(metrics.accuracy_per_grid_point(PROBS, LABELS), [1.0, 0.5, 1.0])
  assert metrics.accuracy(PROBS, LABELS)["mean"] == pytest.approx((2 / 3 + 1) / 2)
  # Image 0 is wrong at grid point 1, image 1 right everywhere.
  assert metrics.worst_case_accuracy(PROBS, LABELS)["mean"] == pytest.approx(0.5)
  grouped = metrics.worst_case_accuracy(PROBS, LABELS, groups=np.array([0, 0, 1]))
  assert grouped == {"group": [0, 1], "mean": [0.5, 1.0], "stderr": [0.5, 0.0]}


def test_consistency_by_hand():
  # Image 0 (top-1 [0, 1, 0]): 2 of the 6 ordered distinct pairs agree; image 1 always agrees.
  result = metrics.consistency(PROBS, samples_per_image=20_000, seed=0)
  assert result["mean"] == pytest.approx((1 / 3 + 1) / 2, abs=0.01)
  assert metrics.consistency(PROBS[1:], samples_per_image=4)["mean"] == 1.0
  assert metrics.consistency(PROBS, seed=3) == metrics.consistency(PROBS, seed=3)
  # Points 0 and 2 (group 0) agree for both images; group 1 (points 1 and a copy of point 0)
  # disagrees for image 0.
  with_groups = metrics.consistency(np.concatenate([PROBS, PROBS[:, :1]], 1),
                                    groups=np.array([0, 1, 0, 1]), samples_per_image=50)
  assert with_groups["group"] == [0, 1]
  assert with_groups["mean"] == [1.0, 0.5]


# 2 images x 6 grid points: points 0-3 are group 16 (3 pairs), points 4-5 group 20 (1 pair).
# Top-1: image 0 -> [0, 1, 0, 1, 2, 2], image 1 -> [0, 0, 0, 0, 1, 1].
GROUPED_PROBS = np.eye(3, dtype=np.float32)[np.array([[0, 1, 0, 1, 2, 2], [0, 0, 0, 0, 1, 1]])]
GROUPED_PAIRS = np.array([[0, 1], [1, 2], [2, 3], [4, 5]])
PAIR_GROUPS = np.array([16, 16, 16, 20])
POINT_GROUPS = np.array([16, 16, 16, 16, 20, 20])


def test_pooled_value_is_the_equal_weight_mean_over_groups_not_over_pairs():
  # Image 0 flips at all 3 pairs of size 16 and not at the one of size 20: per image
  # (1 + 0) / 2 = 0.5, not 3/4 as a mean over the 4 pairs would give. Image 1 never flips.
  pooled = metrics.p_top1_change(GROUPED_PROBS, GROUPED_PAIRS, PAIR_GROUPS, pool=True)
  assert pooled["mean"] == pytest.approx(0.25)
  assert pooled["stderr"] == pytest.approx(np.std([0.5, 0.0], ddof=1) / np.sqrt(2))
  assert metrics.p_top1_change(GROUPED_PROBS, GROUPED_PAIRS)["mean"] == pytest.approx(0.375)
  per_group = metrics.p_top1_change(GROUPED_PROBS, GROUPED_PAIRS, PAIR_GROUPS)
  assert pooled["mean"] == pytest.approx(np.mean(per_group["mean"]))
  # Accuracy, labels [0, 0]: image 0 right at 2 of 4 size-16 points and 0 of 2 size-20 ones.
  labels = np.array([0, 0])
  accuracy = metrics.accuracy(GROUPED_PROBS, labels, POINT_GROUPS, pool=True)
  assert accuracy["mean"] == pytest.approx(((0.5 + 0) / 2 + (1 + 0) / 2) / 2)
  assert metrics.accuracy(GROUPED_PROBS, labels)["mean"] == pytest.approx((2 / 6 + 4 / 6) / 2)
  worst = metrics.worst_case_accuracy(GROUPED_PROBS, labels, POINT_GROUPS, pool=True)
  assert worst["mean"] == pytest.approx((0 + 0.5) / 2)  # image 1: size 16 only
  # One group: pooling is the plain mean.
  assert metrics.mac(PROBS, PAIRS, np.zeros(2), pool=True) == metrics.mac(PROBS, PAIRS)


def test_consistency_compares_points_of_the_same_group_only():
  # Top-1 is constant within each group but differs between groups (image 0: 0 vs 2).
  probs = np.eye(3, dtype=np.float32)[np.array([[0, 0, 0, 0, 2, 2], [1, 1, 1, 1, 1, 1]])]
  pooled = metrics.consistency(probs, POINT_GROUPS, pool=True, samples_per_image=64)
  assert pooled == {"mean": 1.0, "stderr": 0.0}
  assert metrics.consistency(probs, POINT_GROUPS, samples_per_image=64)["mean"] == [1.0, 1.0]
  assert metrics.consistency(probs, samples_per_image=64)["mean"] < 1.0  # across groups
  # The same through the report of an embed_shift grid: two sizes, top-1 = f(size).
  protocol = protocols.build_protocol("embed_shift", sizes=[28, 30])
  top = np.where(protocol.point_group == 28, 3, 5)
  result = grid.GridResult(
      probs=np.eye(10, dtype=np.float32)[np.stack([top, top])], labels=np.array([3, 5]),
      protocol_name="embed_shift", protocol_options=protocol.options, grid=protocol.grid,
      pairs=protocol.pairs, pair_group=protocol.pair_group, point_group=protocol.point_group,
      sampled=False, point_columns=np.arange(protocol.num_points),
      logit_spread=np.zeros((2, 2), np.float32), logit_groups=np.array([28, 30]))
  entry = report.protocol_entry(result, protocol_type="embed_shift", seconds=0.0, seed=0)
  assert entry["metrics"]["consistency"]["mean"] == 1.0
  assert entry["by_group"]["consistency"]["mean"] == [1.0, 1.0]
  assert entry["metrics"]["accuracy"]["mean"] == pytest.approx(0.5)  # equal weight per size
  assert entry["pooling"] == metrics.POOLING
  summary = metrics.summarize(result)
  assert summary["consistency"]["mean"] == 1.0 and summary["max_logit_change"] == 0.0


def test_max_logit_change_over_groups():
  spread = np.array([[0.0, 2.0], [1.0, 0.5]])
  assert metrics.max_logit_change(spread) == 2.0
  assert metrics.max_logit_change(spread, np.array([16, 20])) == {"group": [16, 20],
                                                                  "max": [1.0, 2.0]}


def test_stderr_is_nan_for_one_image():
  assert np.isnan(metrics.p_top1_change(PROBS[:1], PAIRS)["stderr"])


# --- the grid engine --------------------------------------------------------------------------


def _images(count, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.integers(0, 256, (count, 32, 32, 3), np.uint8),
          rng.integers(0, 10, (count,), np.int32))


def _model(name, seed, **options):
  """predict and random He-normal variables (drawn with NumPy: no slow init compile)."""
  model = models.build_model(name, width=8, **options)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)),
                                             train=False))
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name = str(path[-1].key)
    if name in ("scale", "var"):
      return np.ones(leaf.shape, leaf.dtype)
    if name in ("bias", "mean"):
      return np.zeros(leaf.shape, leaf.dtype)
    fan_in = np.prod(leaf.shape[:-1])
    return (rng.standard_normal(leaf.shape) * np.sqrt(2 / fan_in)).astype(leaf.dtype)

  return make_predict_fn(model), jax.tree_util.tree_map_with_path(draw, shapes)


def _centre_logits(predict, variables, images):
  """Shifts the classifier bias so every class's median logit over `images` is 0: a random
  model then predicts many classes, with some near-ties (else P(top-1 change) is trivially 0)."""
  logits = np.asarray(predict(variables, images))
  variables["params"]["classifier"]["bias"] -= np.median(logits, 0)
  return variables


@pytest.fixture(scope="module")
def small_alexnet():
  return _model("alexnet", 0, hidden_units=(16,))


@pytest.mark.parametrize("name, options", [
    ("embed_shift", dict(sizes=[29, 30], fill="inpaint")),
    ("crop_shift", dict(sample_pairs=3)),
])
@pytest.mark.slow
def test_vmap_grid_equals_loop(small_alexnet, name, options):
  predict, variables = small_alexnet
  protocol = protocols.build_protocol(name, **options)
  images, labels = _images(5)
  vmapped = grid.evaluate_grid(predict, variables, images, labels, protocol,
                               images_per_chunk=2, seed=4)
  looped = grid.evaluate_grid_loop(predict, variables, images, labels, protocol,
                                   images_per_chunk=3, seed=4)
  assert vmapped.probs.shape == (5, grid.grid_size(protocol), 10)
  np.testing.assert_allclose(vmapped.probs, looped.probs, atol=2e-6)
  np.testing.assert_allclose(vmapped.probs.sum(-1), 1.0, atol=1e-5)
  for key in protocol.grid:
    np.testing.assert_array_equal(vmapped.grid[key], looped.grid[key])
  assert vmapped.sampled == bool(protocol.sample_pairs)
  np.testing.assert_allclose(vmapped.logit_spread, looped.logit_spread, atol=1e-5)
  np.testing.assert_array_equal(vmapped.logit_groups, np.unique(protocol.point_group))
  # By hand for one image: max over classes of (max - min) of its logits over each group.
  image_index = 3
  grid_of_image = {key: np.asarray(values)[image_index] if vmapped.sampled else values
                   for key, values in vmapped.grid.items()}
  transformed = jnp.stack([protocol.transform(jnp.asarray(images[image_index], jnp.float32),
                                              {key: values[g] for key, values in
                                               grid_of_image.items()})
                           for g in range(vmapped.num_points)])
  logits = np.asarray(predict(variables, transformed))
  for k, group in enumerate(vmapped.logit_groups):
    selected = logits[vmapped.point_group == group]
    assert vmapped.logit_spread[image_index, k] == pytest.approx(
        (selected.max(0) - selected.min(0)).max(), abs=1e-5)
  if vmapped.sampled:
    assert vmapped.grid["dy"].shape == (5, 6 + 3)  # 3 pairs + 3 uniform points
  # One grid point by hand: the model on the transformed image.
  point = {key: values[..., 1] if vmapped.sampled else values[1]
           for key, values in vmapped.grid.items()}
  image_index = 3
  point = {key: np.asarray(value)[image_index] if np.ndim(value) else value
           for key, value in point.items()}
  by_hand = jax.nn.softmax(predict(variables, protocol.transform(
      jnp.asarray(images[image_index], jnp.float32), point)[None]))[0]
  np.testing.assert_allclose(vmapped.probs[image_index, 1], by_hand, atol=2e-6)
  assert set(metrics.summarize(vmapped)) >= {"p_top1_change", "mac", "consistency"}


@pytest.mark.parametrize("name, options, images_per_chunk, inputs_per_chunk", [
    ("circular_shift", dict(max_shift=2), 0, 4),  # 25 points: 1 image x 4 points, 7 chunks
    ("circular_shift", dict(max_shift=2), 2, 5),  # 2 images x 2 points, 13 chunks
    ("crop_shift", dict(sample_pairs=5), 0, 4),  # sampled, 10 points: 1 image x 4 points
])
@pytest.mark.slow
def test_vmap_with_grid_point_chunks_equals_loop(small_alexnet, name, options, images_per_chunk,
                                                 inputs_per_chunk, monkeypatch):
  # Chunks planned from the estimate (as where the backend gives no memory report), so that
  # the grid really is cut into several, uneven chunks of grid points.
  monkeypatch.setattr(grid, "compiled_bytes", lambda compiled: None)
  predict, variables = small_alexnet
  protocol = protocols.build_protocol(name, **options)
  points = grid.grid_size(protocol)
  bound = inputs_per_chunk * grid.bytes_per_grid_image(predict, variables, protocol)
  plan = grid.plan_chunks(5, points, bound // inputs_per_chunk, bound, images_per_chunk, 1)
  assert plan.points < points and points % plan.points != 0  # several, uneven grid chunks
  images, labels = _images(5, seed=1)
  vmapped = grid.evaluate_grid(predict, variables, images, labels, protocol,
                               images_per_chunk=images_per_chunk, max_chunk_bytes=bound, seed=2)
  assert (vmapped.chunking["images"], vmapped.chunking["points"]) == (plan.images, plan.points)
  assert vmapped.chunking["memory"] == "estimate"
  looped = grid.evaluate_grid_loop(predict, variables, images, labels, protocol, seed=2)
  assert vmapped.probs.shape == (5, points, 10)
  np.testing.assert_allclose(vmapped.probs, looped.probs, atol=2e-6)
  for key in protocol.grid:
    np.testing.assert_array_equal(vmapped.grid[key], looped.grid[key])
  assert vmapped.sampled == bool(protocol.sample_pairs)


def test_grid_too_large_for_memory_bound_fails_before_work(small_alexnet):
  predict, variables = small_alexnet
  protocol = protocols.build_protocol("circular_shift")
  images, labels = _images(2)
  one_input = grid.bytes_per_grid_image(predict, variables, protocol)
  assert grid.check_fits(protocol, predict, variables, max_chunk_bytes=one_input) == one_input
  with pytest.raises(ValueError, match="grid too large"):
    grid.check_fits(protocol, predict, variables, max_chunk_bytes=one_input - 1)
  # The bound is per device: on two devices the smallest chunk (one input each) fits it too.
  assert grid.check_fits(protocol, predict, variables, max_chunk_bytes=one_input,
                         num_devices=2) == one_input
  with pytest.raises(ValueError, match="grid too large"):
    grid.check_fits(protocol, predict, variables, max_chunk_bytes=one_input - 1, num_devices=2)
  with pytest.raises(ValueError, match="grid too large"):
    grid.evaluate_grid(predict, variables, images, labels, protocol,
                       max_chunk_bytes=one_input - 1)
  with pytest.raises(ValueError, match="grid too large"):
    grid.evaluate_grid_loop(predict, variables, images, labels, protocol,
                            max_chunk_bytes=one_input - 1)


@pytest.mark.parametrize("num_devices", [1, 2, 3, 8])
@pytest.mark.parametrize("points", [1, 6, 25])
@pytest.mark.parametrize("inputs_allowed", [8, 30, 200])
@pytest.mark.parametrize("images_per_chunk", [0, 1, 5])
def test_plan_chunks_fits_bound_and_divides_over_devices(num_devices, points, inputs_allowed,
                                                         images_per_chunk):
  bytes_per_input = 7
  bound = inputs_allowed * bytes_per_input + 3
  plan = grid.plan_chunks(1000, points, bytes_per_input, bound, images_per_chunk, num_devices)
  point_step = num_devices // np.gcd(plan.images, num_devices)
  assert plan.inputs % num_devices == 0
  # Within the bound, unless a given images_per_chunk forces the smallest point chunk.
  assert plan.inputs * bytes_per_input <= bound or plan.points == point_step
  if plan.points < points:  # grid chunks: the fewest the bound allows, balanced
    largest = max(point_step, inputs_allowed // plan.images // point_step * point_step)
    num_chunks = -(-points // plan.points)
    assert num_chunks == -(-points // largest)
    assert num_chunks * plan.points - points < num_chunks * point_step
  if images_per_chunk == 0 and points * (num_devices // np.gcd(points, num_devices)) <= (
      inputs_allowed):
    assert plan.points == points  # whole grids when one image's grid fits
  if images_per_chunk == 0:
    assert plan.inputs * bytes_per_input <= bound
    assert plan.points == points or plan.images == 1
  else:
    assert images_per_chunk <= plan.images < images_per_chunk + num_devices
  small = grid.plan_chunks(3, points, bytes_per_input, bound, 0, num_devices)
  assert small.images < 3 + num_devices


def test_plan_chunks_fails_only_below_one_input_per_device():
  assert grid.plan_chunks(10, 1024, 100, 100, 0, 1) == grid.ChunkPlan(1, 1)
  assert grid.plan_chunks(10, 1024, 100, 400, 0, 4) == grid.ChunkPlan(1, 4)
  with pytest.raises(ValueError, match="memory bound"):
    grid.plan_chunks(10, 1024, 100, 99, 0, 1)
  with pytest.raises(ValueError, match="memory bound"):
    grid.plan_chunks(10, 1024, 100, 399, 0, 4)


# --- exact invariance of circular-padded models without subsampling --------------------------


@pytest.mark.slow
def test_circular_nostride_model_is_exactly_shift_invariant_and_strided_is_not():
  protocol = protocols.build_protocol("circular_shift", sample_pairs=16)
  images, labels = _images(8)
  summaries = {}
  for name in ("alexnet_nostride", "alexnet"):
    predict, variables = _model(name, 2, padding="circular")
    variables = _centre_logits(predict, variables, images)
    result = grid.evaluate_grid(predict, variables, images, labels, protocol)
    assert len(np.unique(metrics.top1(result.probs))) > 2  # not a constant classifier
    summaries[name] = (metrics.p_top1_change(result.probs, result.pairs)["mean"],
                       metrics.mac(result.probs, result.pairs)["mean"],
                       metrics.max_logit_change(result.logit_spread))
  assert summaries["alexnet_nostride"][0] == 0.0
  assert summaries["alexnet_nostride"][1] < 1e-6
  # Exact up to float rounding: no logit of any image moves between any two rolls.
  assert summaries["alexnet_nostride"][2] <= report.FLOAT_ROUNDING_LOGITS
  assert summaries["alexnet"][0] > 0.1
  assert summaries["alexnet"][1] > 1e-2
  assert summaries["alexnet"][2] > 100 * report.FLOAT_ROUNDING_LOGITS


@pytest.mark.slow
def test_chunks_are_sized_by_the_compiled_programs_memory_report(small_alexnet):
  predict, variables = small_alexnet
  protocol = protocols.build_protocol("circular_shift", max_shift=3)  # 49 points
  estimate = grid.bytes_per_grid_image(predict, variables, protocol)
  bound = 6 * estimate  # the estimate allows 6 inputs per chunk
  images, labels = _images(4, seed=3)
  result = grid.evaluate_grid(predict, variables, images, labels, protocol,
                              max_chunk_bytes=bound)
  chunking = result.chunking
  # The estimate assumes no buffer reuse; the compiled program needs far less per input, so
  # its own report allows chunks of at least twice as many inputs, still within the bound.
  assert chunking["memory"] == "compiled" and chunking["compiles"] == 2
  assert chunking["images"] * chunking["points"] >= 12
  assert chunking["bytes_per_device"] <= bound
  looped = grid.evaluate_grid_loop(predict, variables, images, labels, protocol)
  np.testing.assert_allclose(result.probs, looped.probs, atol=2e-6)


@pytest.mark.parametrize("name, options", [
    ("embed_shift", dict(sizes=[28, 29])),
    ("crop_shift", dict(sample_pairs=3)),
])
@pytest.mark.slow
def test_chunk_by_chunk_summary_equals_the_summary_of_all_probabilities(small_alexnet, name,
                                                                        options, monkeypatch):
  monkeypatch.setattr(grid, "compiled_bytes", lambda compiled: None)  # small chunks, below
  predict, variables = small_alexnet
  protocol = protocols.build_protocol(name, **options)
  images, labels = _images(5, seed=4)
  full = grid.evaluate_grid(predict, variables, images, labels, protocol, seed=1)
  path = None if protocol.sample_pairs else np.arange(0, protocol.num_points, 3)
  expected = grid_summary.summarize(full, seed=1, path=path)
  summarizer = grid_summary.GridSummarizer(grid.planned_description(protocol, 5, 1), labels,
                                           seed=1, path=path)
  bound = 3 * grid.bytes_per_grid_image(predict, variables, protocol)  # 3 inputs per chunk
  streamed = grid.evaluate_grid(predict, variables, images, labels, protocol, seed=1,
                                max_chunk_bytes=bound, images_per_chunk=2,
                                on_rows=summarizer.add, keep_probs=False)
  assert streamed.probs is None and streamed.chunking["points"] < grid.grid_size(protocol)
  summary = summarizer.finish(streamed.logit_spread, streamed.logit_groups)
  # Equal up to float rounding (other chunk shapes: other batch sizes in the model).
  for metric, values in expected.per_image.values.items():
    np.testing.assert_allclose(summary.per_image.values[metric], values, rtol=1e-4,
                               atol=1e-5, err_msg=metric)
  np.testing.assert_allclose(summary.point_accuracy, expected.point_accuracy)
  np.testing.assert_allclose(summary.pair_change, expected.pair_change)
  if path is not None:
    np.testing.assert_allclose(summary.path_correct, expected.path_correct, atol=2e-6)
  # The report entry from the chunked summary equals the one from all the probabilities.
  entry = report.protocol_entry(streamed, protocol_type=name, seconds=0.0, seed=1,
                                summary=summary)
  reference = report.protocol_entry(full, protocol_type=name, seconds=0.0, seed=1)
  for metric, value in reference["metrics"].items():
    assert entry["metrics"][metric] == pytest.approx(value, rel=1e-4, abs=1e-6,
                                                     nan_ok=True), metric
  assert entry["adversarial"] == reference["adversarial"]
  with pytest.raises(ValueError, match="no probabilities"):
    grid_summary.summarize(streamed, seed=1)
