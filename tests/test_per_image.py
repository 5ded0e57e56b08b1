"""evaluate.stats.per_image: the per-image reduction against evaluate.metrics, chunked, its file."""
import numpy as np
import pytest

from evaluate import grid, metrics, protocols, report
from evaluate.stats import per_image

# (protocol type, options): several groups, pairs across two sizes, one group, sampled grids.
CASES = [
    ("embed_shift", dict(sizes=[27, 29], direction="all")),
    ("embed_scale", dict(sizes=[20, 24, 28])),
    ("crop_shift", dict(scale=1.125)),
    ("circular_shift", dict(max_shift=1)),
    ("embed_shift", dict(sizes=[20, 24], sample_pairs=3)),
]


def _result(type_name, options, num_images=7, num_classes=4, seed=0):
  """A GridResult of random probabilities on the protocol's (full or sampled) grid."""
  protocol = protocols.build_protocol(type_name, **options)
  planned = grid._plan_grid(protocol, num_images, seed)  # pylint: disable=protected-access
  rng = np.random.default_rng(seed)
  points = planned.point_group.shape[0]
  probs = rng.dirichlet(np.ones(num_classes) * 0.4, size=(num_images, points)).astype(
      np.float32)
  groups = np.unique(planned.point_group)
  return grid.GridResult(
      probs=probs, labels=rng.integers(0, num_classes, num_images), protocol_name=type_name,
      protocol_options=protocol.options, grid=planned.grid, pairs=planned.pairs,
      pair_group=planned.pair_group, point_group=planned.point_group,
      sampled=planned.sampled, point_columns=planned.point_columns,
      logit_spread=rng.random((num_images, len(groups))).astype(np.float32),
      logit_groups=groups)


@pytest.mark.parametrize("type_name, options", CASES)
def test_per_image_values_summarise_to_the_metrics_functions(type_name, options):
  """metrics.* compute each summary on their own (groups, pooling); the per-image values
  must give the same numbers, pooled and per group."""
  result = _result(type_name, options)
  values = per_image.reduce_grid(result, seed=3, consistency_samples=5)
  probs, labels, pairs = result.probs, result.labels, result.pairs
  columns = result.point_columns
  point_probs, point_groups = probs[:, columns], result.point_group[columns]
  expected = {
      "p_top1_change": lambda **kw: metrics.p_top1_change(probs, pairs, result.pair_group, **kw),
      "mac": lambda **kw: metrics.mac(probs, pairs, result.pair_group, **kw),
      "accuracy": lambda **kw: metrics.accuracy(point_probs, labels, point_groups, **kw),
      "worst_case_accuracy": lambda **kw: metrics.worst_case_accuracy(point_probs, labels,
                                                                      point_groups, **kw),
      "consistency": lambda **kw: metrics.consistency(point_probs, point_groups,
                                                      samples_per_image=5, seed=3, **kw),
      "stable_prediction": lambda **kw: metrics.stable_prediction(point_probs, point_groups,
                                                                  **kw),
  }
  assert set(values.values) == set(per_image.MEAN_METRICS) | {"max_logit_change"}
  for name, compute in expected.items():
    array = values.values[name]
    assert array.shape == (7, len(values.groups)) and array.dtype == np.float64
    pooled = compute(pool=True)
    assert per_image.pooled_stat(array)["mean"] == pytest.approx(pooled["mean"], abs=1e-12)
    assert per_image.pooled_stat(array)["stderr"] == pytest.approx(pooled["stderr"], abs=1e-12)
    by_group = compute()
    mine = per_image.group_stats(array, values.groups)
    assert mine["group"] == by_group["group"]
    np.testing.assert_allclose(mine["mean"], by_group["mean"], atol=1e-12)
    np.testing.assert_allclose(mine["stderr"], by_group["stderr"], atol=1e-12)
  for binary in ("worst_case_accuracy", "stable_prediction"):
    assert set(np.unique(values.values[binary])) <= {0.0, 1.0}
  assert np.nanmax(values.values["max_logit_change"]) == pytest.approx(
      metrics.max_logit_change(result.logit_spread))
  entry = report.protocol_entry(result, protocol_type=type_name, seconds=0.0, seed=3,
                                consistency_samples=5)
  assert entry["metrics"]["mac"]["mean"] == pytest.approx(expected["mac"](pool=True)["mean"])


def test_rows_reduced_in_chunks_equal_the_whole():
  result = _result("embed_shift", dict(sizes=[26, 28]), num_images=9)
  layout = per_image.layout_of(result)
  draws = per_image.consistency_draws(layout, 9, 4, seed=1)
  whole = per_image.reduce_rows(result.probs, result.labels, layout, draws)
  parts = [per_image.reduce_rows(result.probs[rows], result.labels[rows], layout, draws[rows])
           for rows in (slice(0, 2), slice(2, 7), slice(7, 9))]
  for name, values in whole.items():
    np.testing.assert_array_equal(np.concatenate([p[name] for p in parts]), values)


def test_a_metric_without_values_in_a_group_is_nan_and_left_out_of_the_pooling():
  values = np.array([[0.2, np.nan], [0.4, np.nan], [0.9, np.nan]])
  assert per_image.pooled(values) == pytest.approx([0.2, 0.4, 0.9])
  assert per_image.group_stats(values, np.array([16, 20]))["group"] == [16]


def test_file_round_trip_and_missing_file(tmp_path):
  result = _result("embed_scale", dict(sizes=[20, 24]))
  values = per_image.reduce_grid(result, seed=0)
  path = per_image.save(
      str(tmp_path / per_image.PER_IMAGE_FILE), image_indices=np.arange(10, 17),
      labels=result.labels, clean_correct=np.ones(7),
      protocols={"scale": per_image.ProtocolValues("embed_scale", result.protocol_options,
                                                   False, values)})
  loaded = per_image.load(str(tmp_path))
  assert loaded.path == path and list(loaded.image_indices) == list(range(10, 17))
  assert loaded.protocols["scale"].options == result.protocol_options
  assert list(loaded.protocols["scale"].per_image.groups) == [20, 24]
  for name, array in values.values.items():
    np.testing.assert_array_equal(loaded.protocols["scale"].per_image.values[name], array)
  with pytest.raises(per_image.PerImageFileError, match="python -m evaluate"):
    per_image.load(str(tmp_path / "elsewhere"))
