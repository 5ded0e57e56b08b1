"""sweeps/paper_scale.py (--tiny: the whole path on CPU) and its cost model, sweeps/budget.py."""
import json
import os

import pytest

from sweeps import paper_scale
from sweeps import budget
from tests.conftest import tiny_config

_TINY = paper_scale.Options(tiny=True, seeds=(0,), max_epochs=1.0,
                            sweeps=("beyond_blurpool",))


def test_epochs_for_budget_fills_the_budget_with_the_same_epochs_for_every_member():
  costs = [budget.MemberCost(steps_per_epoch=10, step_seconds=1.0, eval_seconds=5.0,
                             fixed_seconds=5.0),
           budget.MemberCost(steps_per_epoch=10, step_seconds=3.0, eval_seconds=0.0,
                             fixed_seconds=10.0)]
  # fixed 20 s; 40 s per epoch of both: 200 s -> 4.5 epochs (a multiple of 0.5 below 4.5).
  assert budget.epochs_for_budget(costs, 200.0, min_epochs=1, max_epochs=30) == 4.5
  assert budget.epochs_for_budget(costs, 10_000.0, min_epochs=1, max_epochs=30) == 30
  assert sum(c.seconds(4.5) for c in costs) <= 200.0
  with pytest.raises(ValueError, match=r"too small.*1 epoch\(s\).*1.0 minutes"):
    budget.epochs_for_budget(costs, 50.0, min_epochs=1, max_epochs=30)


def test_cost_model_counts_the_extra_forward_passes_of_worst_of_k():
  config = tiny_config()
  config.model.width = 4
  plain = budget.train_step_flops(config, num_train=256)
  config.augment.policies = "flip,worst_of_k"
  config.augment.worst_of_k.k = 4
  config.augment.worst_of_k.policy = "crop"
  worst = budget.train_step_flops(config, num_train=256)
  # forward + backward ~ 3 forward passes; worst-of-4 adds 4 forward passes of the batch.
  assert 1.8 < worst / plain < 3.5
  assert budget.forward_flops(config) * 3 < plain / config.train.batch_size * 1.5


def test_unknown_members_and_sweeps_fail_before_anything_runs(tmp_path):
  bad = paper_scale.Options(tiny=True, seeds=(0,), members=("stirde",))
  with pytest.raises(ValueError, match="stirde.*stride"):
    paper_scale.run(str(tmp_path), 1.0, bad)
  with pytest.raises(ValueError, match="fig12.*fig11"):
    paper_scale.run(str(tmp_path), 1.0, paper_scale.Options(tiny=True, sweeps=("fig12",)))
  assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_tiny_study_plans_trains_evaluates_collects_and_resumes(tmp_path):
  # One sweep here (the suite's time is short); the device suite's --tiny slice runs both,
  # and the report of several sweeps is tested below.
  workdir = str(tmp_path / "study")
  result = paper_scale.run(workdir, 10.0, _TINY)
  assert result["failed"] == []
  with open(os.path.join(workdir, paper_scale.PLAN_FILE)) as f:
    plan = json.load(f)
  assert plan["epochs"] == 1.0 and plan["settings"]["tiny"]
  assert [m["member"] for m in plan["members"]] == ["stride,seed=0"]
  assert os.path.exists(os.path.join(workdir, "beyond_blurpool", "summary.csv"))
  with open(os.path.join(workdir, "beyond_blurpool", "stride,seed=0", "summary.json")) as f:
    assert json.load(f)["epochs"] == 1.0
  with open(result["report"]) as f:
    text = f.read()
  assert "## beyond_blurpool" in text and "circular" in text
  assert "| beyond_blurpool | stride,seed=0 |" in text
  # Again: the plan is kept (no budget needed) and the member is skipped.
  again = paper_scale.run(workdir, None, _TINY)
  assert again["plan"] == plan and again["failed"] == []
  with open(os.path.join(workdir, "beyond_blurpool", "stride,seed=0",
                         "sweep_member.json")) as f:
    assert json.load(f)["state"] == "done"


def test_report_holds_each_sweeps_tables_paired_differences_and_times(tmp_path):
  workdir = str(tmp_path)
  collected = {}
  for name in ("fig11", "beyond_blurpool"):
    os.makedirs(os.path.join(workdir, name, "stride,seed=0"))
    for file, text in (("summary.md", f"{name} table ![p](accuracy.png)"),
                       ("paired.md", f"{name} aps - stride: 0.1 [0.0, 0.2]")):
      with open(os.path.join(workdir, name, file), "w") as f:
        f.write(text)
    with open(os.path.join(workdir, name, "stride,seed=0", "sweep_member.json"), "w") as f:
      json.dump({"state": "done", "seconds": 42.0}, f)
    collected[name] = {"markdown": os.path.join(workdir, name, "summary.md"),
                       "paired": {"markdown": os.path.join(workdir, name, "paired.md")}}
  plan = {"epochs": 2.0, "budget_minutes": 5.0, "estimated_minutes": 4.0, "device": "1 x cpu",
          "calibration": {"member": "stride,seed=0", "step_seconds": 0.1,
                          "compile_seconds": 3.0},
          "settings": {"recipe": "fast", "batch_size": 512, "dtype": "float32",
                       "grids": "full", "eval_images": 1000},
          "members": [{"sweep": name, "member": "stride,seed=0", "estimated_seconds": 40.0}
                      for name in collected]}
  with open(paper_scale.report(workdir, plan, collected)) as f:
    text = f.read()
  assert "fig11 table ![p](fig11/accuracy.png)" in text
  assert "beyond_blurpool: paired differences against stride" in text
  assert "| fig11 | stride,seed=0 | 40 | 42 |" in text and "1.4 minutes" in text
