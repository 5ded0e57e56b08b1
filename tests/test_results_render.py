"""Every rendered table of RESULTS.md and README.md is what its command makes of results/."""
import json

import pytest

from scripts import render_results


def test_results_and_readme_tables_are_rendered_from_results():
  """scripts.render_results --check: each block equals its command's output now."""
  assert render_results.render_documents(check=True) == []


def _paired(tmp_path, accuracy):
  path = tmp_path / "paired.json"
  result = dict(a=0.5, b=accuracy, diff=accuracy - 0.5, ci_low=-0.01, ci_high=0.01,
                distinguishable=False, a_ci_low=0.49, a_ci_high=0.51, b_ci_low=0.49,
                b_ci_high=0.51)
  path.write_text(json.dumps(dict(pairs=[dict(
      a="none", b="x", n_images=4, clean_accuracy=result,
      protocols=dict(crop=dict(n_images=4, metrics=dict(p_top1_change=result))))])))
  return path


def test_a_block_is_rewritten_from_its_command_and_a_stale_one_is_reported(tmp_path):
  command = f"python -m scripts.paired_table {_paired(tmp_path, 0.5)}"
  text = f"intro\n<!-- rendered by: {command} -->\nstale\n<!-- end rendered -->\nafter\n"
  rendered, changed = render_results.render(text)
  assert changed == [command] and "stale" not in rendered and rendered.endswith("after\n")
  assert "| `none` (baseline) | 0.500 [0.490, 0.510] |" in rendered
  assert render_results.render(rendered) == (rendered, [])  # re-rendering changes nothing
  _paired(tmp_path, 0.6)  # the results change: the block no longer matches
  assert render_results.render(rendered)[1] == [command]


@pytest.mark.parametrize("command, message", [
    ("ls results", "not a 'python -m <module> ...' command"),
    ("python -m scripts.paired_table missing.json", "exited 2"),
])
def test_bad_commands_are_refused(command, message):
  with pytest.raises(render_results.RenderError, match=message):
    render_results.run_command(command)
