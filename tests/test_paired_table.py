"""scripts/paired_table.py: RESULTS.md's tables from a paired.json, every number as written."""
import json

import pytest

from scripts import paired_table


def _result(a, b, low, high):
  return dict(a=a, b=b, diff=b - a, ci_low=low, ci_high=high,
              distinguishable=not low <= 0.0 <= high, a_ci_low=a - 0.01, a_ci_high=a + 0.01,
              b_ci_low=b - 0.01, b_ci_high=b + 0.01)


def _paired():
  def pair(b, planted):
    return dict(a="stride", b=b, n_images=50, n_seeds_a=3, n_seeds_b=1 if b == "aps" else 3, clean_accuracy=_result(0.4, 0.41, -0.02, 0.04),
                protocols=dict(circular=dict(n_images=20, metrics=dict(
                    p_top1_change=_result(0.1, 0.1 + planted, planted - 0.01, planted + 0.01)
                    if planted else _result(0.1, 0.1, -0.02, 0.02)))))
  return dict(baseline="stride", pairs=[pair("aps", -0.1), pair("blur", 0.0)])


def test_distinguishable_differences_are_bold_and_the_others_marked_indistinguishable():
  lines = paired_table.paired_table(_paired()).splitlines()
  assert lines[0] == ("| member | untransformed accuracy (50 images) | circular (20 images) |")
  assert lines[2] == ("| `stride` (baseline, 3 seeds) | 0.400 [0.390, 0.410] "
                      "| 0.100 [0.090, 0.110] |")
  assert lines[3].startswith("| `aps` (1 seed) |") and lines[4].startswith("| `blur` (3 seeds) |")
  assert "0.000, Δ **-0.100 [-0.110, -0.090]**" in lines[3]  # planted: found
  assert "0.100, Δ +0.000 [-0.020, +0.020] ≈" in lines[4]  # none planted: not ranked
  assert lines[3].count("≈") == 1  # the accuracy difference's interval holds 0


def test_whole_test_set_accuracy_replaces_the_evaluated_images_accuracy_where_present():
  data = _paired()
  for pair in data["pairs"]:
    pair["test_set_accuracy"] = dict(_result(0.7, 0.75, 0.03, 0.07), n_images=10000)
  lines = paired_table.paired_table(data).splitlines()
  assert lines[0].startswith("| member | accuracy, whole test set (10000 images) |")
  assert lines[2].startswith("| `stride` (baseline, 3 seeds) | 0.700 [0.690, 0.710] |")
  assert "| 0.750, Δ **+0.050 [+0.030, +0.070]** |" in lines[3]


def test_size_table_has_a_column_per_size_and_marks_each_difference():
  data = _paired()
  for pair, planted in zip(data["pairs"], (-0.1, 0.0)):
    protocol = pair["protocols"]["circular"]
    protocol["by_group"] = dict(groups=[16, 24], p_top1_change=[
        _result(0.2, 0.2 + planted, planted - 0.01, planted + 0.01) if planted
        else _result(0.2, 0.2, -0.02, 0.02), _result(0.1, 0.1, -0.02, 0.02)])
  lines = paired_table.size_table(data, "circular").splitlines()
  assert lines[0] == "| member (20 images) | size 16 | size 24 |"
  assert lines[2] == "| `stride` (baseline, 3 seeds) | 0.200 [0.190, 0.210] | 0.100 [0.090, 0.110] |"
  assert lines[3] == ("| `aps` (1 seed) | 0.100, Δ **-0.100 [-0.110, -0.090]** "
                      "| 0.100, Δ +0.000 [-0.020, +0.020] ≈ |")
  assert lines[4].count("≈") == 2
  with pytest.raises(ValueError, match=r"no per-size values of 'crop'; protocols with sizes: "
                                       r"\['circular'\]"):
    paired_table.size_table(data, "crop")


@pytest.mark.parametrize("option, message", [
    (dict(metric="stable"), "unknown metric 'stable'; paired.json has"),
    (dict(protocols=["crop"]), r"unknown protocol\(s\) \['crop'\]; paired.json has"),
])
def test_unknown_names_fail_and_list_the_valid_ones(option, message):
  with pytest.raises(ValueError, match=message):
    paired_table.paired_table(_paired(), **option)


def test_the_command_prints_the_table_and_exits_2_on_bad_input(tmp_path, capsys):
  path = tmp_path / "paired.json"
  path.write_text(json.dumps(_paired()))
  assert paired_table.main([str(path), "--protocols=circular"]) == 0
  assert "`aps`" in capsys.readouterr().out
  assert paired_table.main([str(tmp_path / "missing.json")]) == 2
  assert paired_table.main([str(path), "--metric=nope"]) == 2
  assert "unknown metric" in capsys.readouterr().err


def test_adjusted_verdicts_are_bold_unadjusted_only_ones_daggered_and_old_files_unchanged():
  """With Holm's fields (evaluate.stats.multiplicity): bold = distinguishable after the
  adjustment, † = before it only, ≈ = neither; the same table without them renders as before."""
  data = _paired()
  old = paired_table.paired_table(data)
  for pair, adjusted in zip(data["pairs"], (False, False)):
    for entry in (pair["clean_accuracy"], pair["protocols"]["circular"]["metrics"]
                  ["p_top1_change"]):
      entry.update(p_value=0.01 if entry["distinguishable"] else 0.5, p_adjusted=0.08,
                   distinguishable_adjusted=adjusted and entry["distinguishable"],
                   family="p_top1_change: all protocols x members vs baseline")
  lines = paired_table.paired_table(data).splitlines()
  assert "0.000, Δ -0.100 [-0.110, -0.090] †" in lines[3]  # not after Holm
  assert "0.100, Δ +0.000 [-0.020, +0.020] ≈" in lines[4]
  data["pairs"][0]["protocols"]["circular"]["metrics"]["p_top1_change"][
      "distinguishable_adjusted"] = True
  assert "0.000, Δ **-0.100 [-0.110, -0.090]**" in paired_table.paired_table(data)
  for pair in data["pairs"]:
    for entry in (pair["clean_accuracy"], pair["protocols"]["circular"]["metrics"]
                  ["p_top1_change"]):
      for key in ("p_value", "p_adjusted", "distinguishable_adjusted", "family"):
        entry.pop(key)
  assert paired_table.paired_table(data) == old


def test_difference_rows_bold_adjusted_and_dagger_unadjusted_only():
  from evaluate import paired_tables  # pylint: disable=g-import-not-at-top
  data = _paired()
  flips = data["pairs"][0]["protocols"]["circular"]["metrics"]["p_top1_change"]
  old = paired_tables.difference_rows(data, [("p_top1_change", "P")])
  assert "**-0.1000 [-0.1100, -0.0900]**" in old[2]  # no adjusted fields: as before
  flips.update(distinguishable_adjusted=False, p_adjusted=0.2)
  rows = paired_tables.difference_rows(data, [("p_top1_change", "P")])
  # 20 images and B's rate 0.0: also marked for its coverage (‡, after the verdict's mark).
  assert "| -0.1000 [-0.1100, -0.0900] † ‡ |" in rows[2]


def _coverage_entry(a, b):
  return _result(a, b, b - a - 0.02, b - a + 0.02)


@pytest.mark.parametrize("images, a, b, marked", [
    (20, 0.0, 0.05, True),   # few images, the baseline never changes
    (8, 0.3, 0.95, True),    # few images, a rate near 1
    (200, 0.0, 0.05, False),  # enough images
    (40, 0.0, 0.05, False),  # the doc's threshold itself: coverage kept
    (20, 0.3, 0.4, False),   # moderate rates
])
def test_cells_without_their_stated_coverage_are_marked_with_a_note(images, a, b, marked):
  from evaluate import paired_tables  # pylint: disable=g-import-not-at-top
  data = _paired()
  for pair in data["pairs"]:
    pair["protocols"]["circular"]["n_images"] = images
    pair["protocols"]["circular"]["metrics"]["p_top1_change"] = _coverage_entry(a, b)
    pair.update(images_left_out=0, protocols_skipped=[])  # what paired.md also reads
    pair["protocols"]["circular"]["max_logit_change"] = dict(a=0.0, b=0.0)
    pair["protocols"]["circular"]["by_group"] = dict(
        groups=[16], p_top1_change=[_coverage_entry(a, b)])
  mark, note = paired_tables.COVERAGE_MARK, paired_tables.COVERAGE_NOTE
  texts = [paired_table.paired_table(data, protocols=["circular"]),
           "\n".join(paired_tables.difference_rows(data, [("p_top1_change", "P")])),
           paired_table.size_table(data, "circular"),
           paired_tables.markdown(dict(data, confidence=0.95, method="m",
                                       bootstrap_samples=10, bootstrap_seed=0))]
  for text in texts:
    assert (mark in text) == marked and (note in text) == marked
    if marked:
      assert text.count(note) == (len(data["pairs"]) if "## A =" in text else 1)
      assert "docs/evaluation.md#coverage-with-few-images-and-rare-events" in note
  lines = texts[0].splitlines()
  assert lines[3].endswith(f" {mark} |") == marked  # a member's difference
  assert (mark in lines[2]) == (marked and not 0.1 <= a <= 0.9)  # the baseline's own rate


def test_continuous_metrics_and_unknown_counts_are_never_marked():
  from evaluate import paired_tables  # pylint: disable=g-import-not-at-top
  entry = _coverage_entry(0.0, 0.05)
  assert paired_tables.low_coverage(entry, 20, "p_top1_change")
  assert not paired_tables.low_coverage(entry, 20, "mac")
  assert not paired_tables.low_coverage(entry, None, "p_top1_change")
  assert not paired_tables.low_coverage(_coverage_entry(0.0, 0.3), 20, "p_top1_change",
                                        rates=("b",))  # the baseline's 0.0 not asked
