"""The whole study at paper scale, sized to a time budget: figure 11 and beyond BlurPool.

  python -m sweeps.paper_scale --budget_minutes=30 --workdir runs/paper_scale
  python -m sweeps.paper_scale --budget_minutes=30 --workdir runs/paper_scale   # again: resumes
  python -m sweeps.paper_scale --tiny --workdir /tmp/paper_scale_tiny             # CPU, seconds

Runs the members of configs/sweeps/stride_vs_nostride.py (figure 11: AlexNet-style with and
without subsampling, and without it with circular padding) and configs/sweeps/beyond_blurpool.py
(ResNet-20, circular padding: stride, BlurPool 3 and 5, APS, APS + blur, LPS, alias-free,
worst-of-10) at paper scale: the full training set, the sweeps' full-scale widths (AlexNet 64,
ResNet-20 16), 1,000 evaluation images, full grids (no sampled pairs; --grids=sampled keeps
the sweeps' sampled pairs), seeds 0, 1, 2; trained with the fast recipe (configs/fast.py,
--recipe=default for the base configs' own), at --batch_size with the learning rate scaled
linearly, in bfloat16 on an accelerator (evaluated in float32: config.eval.dtype).

Sizing (sweeps/budget.py): the first member's train step is compiled and timed on the
devices found; every member's cost is estimated from the operations of its own train step
and evaluation; the number of epochs, the same for every member so that the comparison stays
fair, is the most that fits the budget (at most --max_epochs). The plan goes to
WORKDIR/plan.json and is kept: a rerun resumes the same sweeps (finished members are skipped,
interrupted ones resume from their checkpoints; --replan sizes again, which retrains every
member whose epochs change). Each sweep is an ordinary sweep workdir (WORKDIR/fig11/,
WORKDIR/beyond_blurpool/: `sweep.py --list/--collect` work on them). At the end every sweep
is collected (summary.csv, summary.md with 95% intervals over seeds and images, plots, and
every member's paired difference against `stride`: sweeps/collect.py) and
WORKDIR/paper_scale.md gathers the tables, the plots and the plan's estimated against the
measured times.

Not configs/sweeps/transformers.py (the vision transformers against ResNet-20): its members
replace the whole model section and bring their own AdamW recipe, while this command sets
the study's settings on the sweep's base: the fast recipe (SGD with the one-cycle schedule
of configs/fast.py, a CNN recipe), the compute dtype, and for --tiny the AlexNet-style net;
none of these would reach the members' model sections or recipes, so the transformers would
run unsized at their own settings. Run that sweep with sweep.py (its docstring).

--tiny runs the same path on CPU in seconds: synthetic data, the AlexNet-style net of width 4
for every member, one seed, the first member of each sweep, one epoch, one small protocol
(what tests/test_paper_scale.py runs).
Exit status: 0 when every member finished, 1 if any failed, 2 for a bad command line or a
budget too small for one epoch.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from absl import app, flags
import ml_collections

from cifar_invariance import host_flags


# name -> the sweep config module's get_config (imported when used).
SWEEPS = {"fig11": "configs.sweeps.stride_vs_nostride",
          "beyond_blurpool": "configs.sweeps.beyond_blurpool"}
PLAN_FILE = "plan.json"
COMPILATION_CACHE = "compilation_cache"  # jax_compilation_cache_dir, inside the workdir
# The member every other is compared with (paired differences over seeds and images).
BASELINE = "stride"
REPORT_FILE = "paper_scale.md"
# Fraction of the budget the plan fills (the cost model is an estimate).
BUDGET_FILL = 0.85
# --tiny without --budget_minutes: enough for its one epoch per member on a CPU.
TINY_BUDGET_MINUTES = 10.0


@dataclasses.dataclass(frozen=True)
class Options:
  """This command's settings (the flags of _define_flags, same names and defaults)."""
  sweeps: tuple[str, ...] = ("fig11", "beyond_blurpool")
  members: tuple[str, ...] = ()
  seeds: tuple[int, ...] = (0, 1, 2)
  recipe: str = "fast"
  batch_size: int = 512
  dtype: str = "auto"
  grids: str = "full"
  eval_images: int = 1000
  min_epochs: float = 1.0
  max_epochs: float = 15.0
  tiny: bool = False
  data_dir: str | None = None


def _tiny_scale(base: ml_collections.ConfigDict) -> None:
  # The AlexNet-style net (stride, or the member's downsampling) is the cheapest to compile.
  import models  # pylint: disable=g-import-not-at-top
  base.model.name = "alexnet"
  # Options of the sweep's own model that the AlexNet-style net does not take (e.g. the
  # ResNet block options of beyond_blurpool's base).
  accepted = models.model_options("alexnet")
  for option in [key for key in base.model.keys() if key != "name" and key not in accepted]:
    del base.model[option]
  base.data.source = "synthetic"
  base.data.synthetic_train_size = 256
  base.data.synthetic_test_size = 64
  base.model.width = 4
  base.train.batch_size = 32
  base.train.eval_batch_size = 64
  base.eval.num_images = 4
  base.eval.num_jagged_images = 0
  base.eval.protocols = ml_collections.ConfigDict(
      dict(circular=dict(type="circular_shift", sample_pairs=2)))


def build_sweep(name: str, options: Options) -> ml_collections.ConfigDict:
  """The sweep config `name` at paper scale (or tiny), with `options`."""
  import importlib  # pylint: disable=g-import-not-at-top
  from configs import fast  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  sweep = importlib.import_module(SWEEPS[name]).get_config("")
  base = sweep.base
  if options.recipe == "fast":
    fast.apply_fast_recipe(base)
  base.train.log_every_steps = 50
  base.train.checkpoint_every_steps = 1000
  if options.tiny:
    _tiny_scale(base)
  else:
    fast.set_batch_size(base, options.batch_size)
    base.data.train_subset = 0
    base.data.dir = options.data_dir or os.environ.get("CIFAR10_DIR") or None
    base.eval.num_images = options.eval_images
    if options.grids == "full":
      for protocol in base.eval.protocols.values():
        if "sample_pairs" in protocol:
          protocol.sample_pairs = 0
  dtype = options.dtype
  if dtype == "auto":
    dtype = "float32" if jax.default_backend() == "cpu" else "bfloat16"
  base.model.dtype = dtype
  if options.members:
    labels = [m["label"] for m in sweep.members]
    unknown = sorted(set(options.members) - set(labels))
    sweep.members = [m for m in sweep.members if m["label"] in options.members]
    if not sweep.members:
      raise ValueError(f"--members {','.join(unknown)}: none of them in {name} (its members: "
                       f"{', '.join(labels)})")
  elif options.tiny:
    sweep.members = sweep.members[:1]
  sweep.seeds = options.seeds
  return sweep


def _members(sweeps: dict[str, ml_collections.ConfigDict], epochs: float | None):
  from sweeps.spec import expand_sweep  # pylint: disable=g-import-not-at-top
  members = {}
  for name, sweep in sweeps.items():
    if epochs is not None:
      sweep.base.train.num_epochs = float(epochs)
    members[name] = expand_sweep(sweep)
  return members


def _num_train(config: ml_collections.ConfigDict) -> int:
  if config.data.source == "synthetic":
    return int(config.data.synthetic_train_size)
  return int(config.data.train_subset) or 50000


def make_plan(sweeps: dict[str, ml_collections.ConfigDict], budget_minutes: float,
              options: Options) -> dict:
  """Calibrates on the first member, estimates every member, picks the epochs (module
  docstring); returns the plan (what plan.json holds)."""
  from sweeps import budget  # pylint: disable=g-import-not-at-top
  members = _members(sweeps, None)
  first = next(iter(members.values()))[0]
  calibration = budget.calibrate(first.config)
  estimates, costs = [], []
  for name, sweep_members in members.items():
    by_group = {}
    for member in sweep_members:
      if member.group not in by_group:
        cost = budget.member_cost(member.config, calibration, _num_train(member.config),
                                  evaluate=bool(sweeps[name].evaluate))
      else:  # another seed: the same programs, read from the compilation cache
        cost = dataclasses.replace(by_group[member.group], fixed_seconds=0.0)
      by_group.setdefault(member.group, cost)
      costs.append(cost)
      estimates.append({"sweep": name, "member": member.name, "group": member.group,
                        "cost": cost})
  epochs = budget.epochs_for_budget(costs, budget_minutes * 60, fill=BUDGET_FILL,
                                    min_epochs=options.min_epochs,
                                    max_epochs=options.max_epochs)
  return {
      "budget_minutes": budget_minutes, "epochs": epochs, "device": calibration.device,
      "calibration": {"member": first.name, "step_seconds": calibration.step_seconds,
                      "compile_seconds": calibration.compile_seconds,
                      "seconds_per_gflop": calibration.seconds_per_flop * 1e9},
      "settings": {"recipe": options.recipe, "batch_size": first.config.train.batch_size,
                   "dtype": first.config.model.dtype, "grids": options.grids,
                   "eval_images": int(first.config.eval.num_images), "tiny": options.tiny,
                   "seeds": list(options.seeds)},
      "members": [{"sweep": e["sweep"], "member": e["member"],
                   "estimated_seconds": e["cost"].seconds(epochs),
                   "estimated_train_seconds": epochs * e["cost"].steps_per_epoch
                                              * e["cost"].step_seconds,
                   "estimated_eval_seconds": e["cost"].eval_seconds} for e in estimates],
      "estimated_minutes": sum(e["cost"].seconds(epochs) for e in estimates) / 60,
  }


def _read_json(path: str) -> dict:
  with open(path) as f:
    return json.load(f)


def _write_json(path: str, payload) -> None:
  from runtime import run_files  # pylint: disable=g-import-not-at-top
  run_files.atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


def report(workdir: str, plan: dict, collected: dict[str, dict]) -> str:
  """WORKDIR/paper_scale.md: the plan, each sweep's tables and plots, estimated against
  measured seconds per member. Returns its path."""
  from sweeps.runner import read_status  # pylint: disable=g-import-not-at-top
  settings = plan["settings"]
  lines = [
      "# The study at paper scale", "",
      f"Plan: {plan['epochs']:g} epochs per member, {settings['recipe']} recipe, batch "
      f"{settings['batch_size']}, {settings['dtype']} training, {settings['grids']} grids, "
      f"{settings['eval_images']} evaluation images, on {plan['device']}; budget "
      f"{plan['budget_minutes']:g} minutes, estimated {plan['estimated_minutes']:.1f}. "
      f"Calibration: {plan['calibration']['member']}, one train step "
      f"{plan['calibration']['step_seconds'] * 1e3:.1f} ms, compile "
      f"{plan['calibration']['compile_seconds']:.1f} s.", ""]
  for name, result in collected.items():
    with open(result["markdown"]) as f:
      body = f.read()
    lines += [f"## {name}", "", body.replace("](", f"]({name}/"), ""]
    if result.get("paired"):
      with open(result["paired"]["markdown"]) as f:
        lines += [f"### {name}: paired differences against {BASELINE}", "", f.read(), ""]
  lines += ["## Time per member: estimated by the plan, measured", "",
            "| sweep | member | estimated s | measured s |", "|---|---|---|---|"]
  total = 0.0
  for entry in plan["members"]:
    status = read_status(os.path.join(workdir, entry["sweep"], entry["member"])) or {}
    measured = status.get("seconds")
    total += measured or 0.0
    lines.append(f"| {entry['sweep']} | {entry['member']} | {entry['estimated_seconds']:.0f} | "
                 + (f"{measured:.0f}" if measured is not None else "-") + " |")
  lines += ["", f"Measured in all: {total / 60:.1f} minutes (members of this or earlier "
            "invocations)."]
  path = os.path.join(workdir, REPORT_FILE)
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
  return path


def run(workdir: str, budget_minutes: float | None, options: Options, *, replan: bool = False,
        plan_only: bool = False) -> dict:
  """The whole command (module docstring). Returns {"plan", "report", "failed"}.

  Raises:
    ValueError: unknown sweeps or members, no plan and no budget, or a budget too small.
  """
  import jax  # pylint: disable=g-import-not-at-top
  unknown = sorted(set(options.sweeps) - set(SWEEPS))
  if unknown:
    raise ValueError(f"--sweeps: unknown {', '.join(unknown)}; valid: {', '.join(SWEEPS)}")
  sweeps = {name: build_sweep(name, options) for name in options.sweeps}
  # Compiled programs persist across members: the seeds of a member (and a resumed study)
  # reuse its train step and evaluation programs instead of compiling them again.
  previous_cache = jax.config.jax_compilation_cache_dir
  jax.config.update("jax_compilation_cache_dir", os.path.abspath(
      os.path.join(workdir, COMPILATION_CACHE)))
  try:
    return _run(workdir, budget_minutes, options, sweeps, replan=replan, plan_only=plan_only)
  finally:
    jax.config.update("jax_compilation_cache_dir", previous_cache)


def _run(workdir: str, budget_minutes: float | None, options: Options, sweeps: dict, *,
         replan: bool, plan_only: bool) -> dict:
  from runtime import hosts  # pylint: disable=g-import-not-at-top
  from sweeps import collect, runner  # pylint: disable=g-import-not-at-top
  is_main = hosts.is_main_process()
  plan_path = os.path.join(workdir, PLAN_FILE)
  # Every process trains the same epochs: process 0's plan (the calibration runs on all of
  # them together, since its step spans every device).
  have_plan = hosts.broadcast_from_main(
      "paper_scale: is there a plan", lambda: os.path.exists(plan_path) and not replan)
  if have_plan:
    plan = hosts.broadcast_from_main("paper_scale: the plan", lambda: _read_json(plan_path))
  else:
    if budget_minutes is None:
      raise ValueError(f"no plan in {workdir}: give --budget_minutes")
    own_plan = make_plan(sweeps, budget_minutes, options)
    plan = hosts.broadcast_from_main("paper_scale: the plan", lambda: own_plan)
    if is_main:
      os.makedirs(workdir, exist_ok=True)
      _write_json(plan_path, plan)
  if is_main:
    print(f"plan: {plan['epochs']:g} epochs per member, estimated "
          f"{plan['estimated_minutes']:.1f} of {plan['budget_minutes']:g} minutes on "
          f"{plan['device']} ({plan_path})", flush=True)
  if plan_only:
    return {"plan": plan, "report": None, "failed": []}
  members = _members(sweeps, plan["epochs"])
  failed, collected = [], {}
  for name, sweep in sweeps.items():
    sweep_dir = os.path.join(workdir, name)
    runner.validate_members(members[name], sweep.evaluate)
    runner.write_sweep_file(sweep_dir, sweep, members[name])
    outcomes = runner.run_members(members[name], sweep_dir, evaluate=sweep.evaluate,
                                  total=len(members[name]))
    failed += [o for o in outcomes if o.state == runner.FAILED]
    if is_main:
      groups = {member.group for member in members[name]}
      baseline = BASELINE if BASELINE in groups and len(groups) > 1 else None
      collected[name] = collect.collect_sweep(sweep_dir, members[name],
                                              f"{name} at paper scale ({sweep_dir})",
                                              baseline=baseline)
  report_path = report(workdir, plan, collected) if is_main else None
  return {"plan": plan, "report": report_path, "failed": failed}


def main(argv):
  from common.entry_point import start_entry_point  # pylint: disable=g-import-not-at-top
  start_entry_point(argv)
  host_flags.run(_command)


def _command():
  from runtime import hosts  # pylint: disable=g-import-not-at-top
  values = flags.FLAGS
  tiny = values.tiny
  options = Options(
      sweeps=tuple(values.sweeps), members=tuple(values.members),
      seeds=(0,) if tiny else tuple(int(seed) for seed in values.seeds), recipe=values.recipe,
      batch_size=values.batch_size, dtype=values.dtype, grids=values.grids,
      eval_images=values.eval_images, min_epochs=values.min_epochs,
      max_epochs=1.0 if tiny else values.max_epochs, tiny=tiny, data_dir=values.data_dir)
  budget = (values.budget_minutes if values.budget_minutes is not None or not tiny
            else TINY_BUDGET_MINUTES)
  start = time.perf_counter()
  try:
    result = run(values.workdir, budget, options, replan=values.replan,
                 plan_only=values.plan_only)
  except ValueError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
  if result["report"]:
    with open(result["report"]) as f:
      print(f.read())
    print(f"wrote {result['report']} in {time.perf_counter() - start:.0f}s")
  if result["failed"]:  # the same on every process of a multi-host run: they leave together
    raise hosts.AgreedExit(f"error: {len(result['failed'])} member(s) failed:\n" + "\n".join(
        f"  {o.member.name}: {o.error}" for o in result["failed"]))


def _define_flags() -> None:
  """The command's flags (defined only when it runs: `python -m sweeps.paper_scale`)."""
  flags.DEFINE_float("budget_minutes", None, "Time budget of the whole study (all sweeps, "
                     "seeds, training and evaluation), in minutes. Needed for the first run; "
                     "a rerun keeps WORKDIR/plan.json.")
  flags.DEFINE_string("workdir", "runs/paper_scale", "Where the sweeps and reports go.")
  flags.DEFINE_list("sweeps", ["fig11", "beyond_blurpool"], "Sweeps to run (SWEEPS).")
  flags.DEFINE_list("members", [], "Member labels to run (e.g. stride,aps); empty = all of "
                    "each sweep.")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of every member.")
  flags.DEFINE_enum("recipe", "fast", ["fast", "default"], "Training recipe: configs/fast.py "
                    "applied to the sweeps' configs, or their own.")
  flags.DEFINE_integer("batch_size", 512, "Global batch (learning rate scaled linearly from "
                       "the recipe's).")
  flags.DEFINE_enum("dtype", "auto", ["auto", "float32", "bfloat16"], "Training compute "
                    "dtype; auto = bfloat16 on an accelerator, float32 on a CPU.")
  flags.DEFINE_enum("grids", "full", ["full", "sampled"], "Evaluation grids: every grid "
                    "point, or the sweeps' sampled pairs.")
  flags.DEFINE_integer("eval_images", 1000, "Test images of every evaluation.")
  flags.DEFINE_float("min_epochs", 1.0, "Fewest epochs worth running.")
  flags.DEFINE_float("max_epochs", 15.0, "Most epochs (the fast recipe's length).")
  flags.DEFINE_bool("replan", False, "Size the study again (new calibration).")
  flags.DEFINE_bool("plan_only", False, "Write the plan and stop.")
  flags.DEFINE_bool("tiny", False, "The same path on CPU in seconds (module docstring).")
  flags.DEFINE_string("data_dir", None, "CIFAR-10 directory (default: $CIFAR10_DIR, else "
                      "TFDS).")
  flags.adopt_module_key_flags(host_flags)  # --multihost, --coordinator_address, ...

if __name__ == "__main__":
  _define_flags()
  app.run(main)
