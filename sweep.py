"""Runs a sweep: a family of training runs from one sweep config, then evaluates and collects.

  python sweep.py --config configs/sweeps/augment_range.py --workdir runs/augsweep
  python sweep.py --config configs/sweeps/augment_range.py --workdir runs/augsweep --list
  python sweep.py --config configs/sweeps/augment_range.py --workdir runs/augsweep --index 3
  python sweep.py --config configs/sweeps/augment_range.py --workdir runs/augsweep --collect
  python sweep.py --config configs/sweeps/augment_range.py --workdir runs/augsweep --index 3 \
      --export_to results/augsweep     # then: --collect --workdir results/augsweep
  python sweep.py --config configs/sweeps/blurpool_filters.py:cpu --workdir runs/blur \
      --collect --baseline=blur_size=1     # every member's paired difference against it
  python sweep.py --config configs/sweeps/blurpool_filters.py:cpu --workdir runs/blur \
      --collect --baseline=blur_size=1 --pair_seeds   # seeds paired by config.seed
  python sweep.py --config configs/sweeps/blurpool_filters.py:cpu --workdir runs/blur \\
      --config.base.train.num_epochs=2
  sweep --config configs/sweeps/augment_range.py --workdir runs/augsweep   # installed

Every member trains in `workdir/<member name>/` (an ordinary run workdir). Rerunning the same
command skips members that finished with the same config and resumes interrupted ones; a
member that fails is reported with its error and the others still run. Without --index the
sweep ends by collecting summary.csv, summary.md and plots into --workdir (sweeps/collect.py).
Several sweep processes may run the same command on one shared workdir (many machines, an array
job on a shared file system): each claims a member (its workdir.lock) before training it, so they
split the members; --index restricts a process to some members (e.g. on a synced folder, where
claims are not reliable); --collect then gathers what is there. With --multihost
(cifar_invariance/host_flags.py) all processes of a multi-host run train each member together.
A member (group of seeds) is summarised by the mean over seeds and test images with a 95%
interval (seeds and images bootstrapped; the plots draw these intervals as error bars);
--baseline=<member> adds every other member's paired difference against it (paired.json,
paired.md and the forest plots paired_<metric>.png): see sweeps/collect.py and
evaluate/stats/bootstrap.py; --pair_seeds resamples each member's seeds jointly with the
baseline's of the same seed number (they share the data order and the initialisation of common
parameters), and refuses members whose finished seeds are not the baseline's.
Exit status: 0 if every run member finished, 1 if any failed, 2 for a bad sweep config, an
unknown --baseline, or members that cannot be paired with the baseline.
"""
import sys

from absl import app, flags
from ml_collections import config_flags

from cifar_invariance import host_flags, startup

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a sweep config (configs/sweeps/*.py), optionally with ':arg' for "
    "its get_config(arg), e.g. configs/sweeps/augment_range.py:cpu.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The sweep's directory: one sub-directory "
                               "per member, plus summary.csv, summary.md and plots.")
_INDEX = flags.DEFINE_list("index", None, "Run only these members (0-based, comma-separated, "
                           "see --list), and do not collect.")
_LIST = flags.DEFINE_bool("list", False, "Print every member's index, state and name; run "
                          "nothing.")
_COLLECT = flags.DEFINE_bool("collect", False, "Only gather the members' results into "
                             "summary.csv, summary.md and plots; run nothing.")
_BASELINE = flags.DEFINE_string(
    "baseline", None, "When collecting: every member's paired difference against this member "
    "(its name without ',seed=N', e.g. 'blur_size=1' or a family label; see --list).")
_BOOTSTRAP_SAMPLES = flags.DEFINE_integer(
    "bootstrap_samples", 2000, "Bootstrap resamples of the intervals when collecting.",
    lower_bound=1)
_BOOTSTRAP_SEED = flags.DEFINE_integer("bootstrap_seed", 0, "Seed of the bootstrap.")
_PAIR_SEEDS = flags.DEFINE_bool(
    "pair_seeds", False, "When collecting with --baseline: pair each member's seeds with the "
    "baseline's of the same config.seed and resample them jointly (they share the data order "
    "and the initialisation of common parameters); members whose finished seeds differ from "
    "the baseline's are refused (exit status 2).")
_EXPORT_TO = flags.DEFINE_string(
    "export_to", None, "At the end (also with --index or --collect), copy every finished "
    "member's small outputs (config, metrics, summary, eval.json, per-image results; no "
    "checkpoints or event files) to this folder, e.g. results/<study>, where `--collect "
    "--workdir <folder>` works alone (sweeps/export.py).")
flags.mark_flags_as_required(["config", "workdir"])
flags.adopt_module_key_flags(host_flags)


def _select(members, indices):
  if indices is None:
    return list(members)
  try:
    chosen = [int(i) for i in indices]
  except ValueError:
    sys.exit(f"error: --index takes integers, got {','.join(indices)}")
  bad = [i for i in chosen if not 0 <= i < len(members)]
  if bad:
    sys.exit(f"error: --index {bad} out of range: this sweep has members 0..{len(members) - 1} "
             "(see --list)")
  return [members[i] for i in chosen]


def main(argv):
  from common.entry_point import start_entry_point  # pylint: disable=g-import-not-at-top
  start_entry_point(argv)
  host_flags.run(_sweep)


def _sweep():
  from common.errors import UserError  # pylint: disable=g-import-not-at-top
  from runtime import hosts, preemption  # pylint: disable=g-import-not-at-top
  from sweeps import collect, runner  # pylint: disable=g-import-not-at-top
  from sweeps.spec import expand_sweep  # pylint: disable=g-import-not-at-top

  sweep, workdir = _CONFIG.value, _WORKDIR.value
  try:
    members = expand_sweep(sweep)
  except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
  groups = list(dict.fromkeys(member.group for member in members))
  if _BASELINE.value is not None and _BASELINE.value not in groups:
    print(f"error: --baseline {_BASELINE.value!r} is not a member of this sweep; members "
          f"(without their seeds): {', '.join(groups)}", file=sys.stderr)
    sys.exit(2)
  if _PAIR_SEEDS.value and _BASELINE.value is None:
    print("error: --pair_seeds pairs the seeds of the comparison against --baseline: give "
          "--baseline", file=sys.stderr)
    sys.exit(2)
  if _LIST.value:
    if hosts.is_main_process():
      for member in members:
        owner = runner.claimant(workdir, member)
        print(f"{member.index:4d}  {runner.member_state(workdir, member):12s}  {member.name}"
              + (f"  [claimed by {owner.describe()}]" if owner else ""))
    return
  failed, pending = [], []
  if not _COLLECT.value:
    selected = _select(members, _INDEX.value)
    try:
      runner.validate_members(selected, sweep.evaluate)
    except UserError as error:
      print(f"error: {error}", file=sys.stderr)
      sys.exit(2)
    runner.write_sweep_file(workdir, sweep, members)
    try:
      outcomes = runner.run_members(selected, workdir, evaluate=sweep.evaluate,
                                    total=len(members))
    except preemption.Preempted as stopped:  # every process saved the same step
      raise hosts.AgreedExit(f"stopped: {stopped}", preemption.PREEMPTED_EXIT_STATUS) from None
    failed = [o for o in outcomes if o.state == runner.FAILED]
    pending = runner.unfinished_claims(outcomes, workdir)
  if (_COLLECT.value or _INDEX.value is None) and hosts.is_main_process():
    title = f"Sweep {config_flags.get_config_filename(flags.FLAGS['config'])} in {workdir}"
    try:
      collected = collect.collect_sweep(
          workdir, members, title, baseline=_BASELINE.value,
          replicates=_BOOTSTRAP_SAMPLES.value, bootstrap_seed=_BOOTSTRAP_SEED.value,
          pair_seeds=_PAIR_SEEDS.value)
    except ValueError as error:  # a baseline without per-image results, or unpairable
      print(f"error: {error}", file=sys.stderr)
      sys.exit(2)
    _print_collection(collected)
  if _EXPORT_TO.value and hosts.is_main_process():
    from sweeps.export import export_results  # pylint: disable=g-import-not-at-top
    exported = export_results(workdir, _EXPORT_TO.value)
    print(f"exported {len(exported)} finished member(s) to {_EXPORT_TO.value}")
  if failed or pending:  # the same on every process of a multi-host run: they leave together
    raise hosts.AgreedExit(_unfinished_message(failed, pending, len(outcomes)))


def _unfinished_message(failed, pending, num_run: int) -> str:
  """The error of a sweep invocation that leaves members failed, or claimed by another process
  and not finished (MemberOutcomes)."""
  lines = []
  if failed:
    lines.append(f"error: {len(failed)} of {num_run} member(s) failed:")
    lines += [f"  {o.member.index} {o.member.name}: {o.error}" for o in failed]
  if pending:
    lines.append(f"error: {len(pending)} member(s) are claimed by another process and not "
                 "finished (rerun this sweep once it ends to run what it leaves, and to "
                 "collect every member):")
    lines += [f"  {o.member.index} {o.member.name}: {o.error}" for o in pending]
  return "\n".join(lines)


def _print_collection(collected):
  with open(collected["markdown"]) as f:
    print(f.read())
  print(f"wrote {collected['csv']}, {collected['markdown']}, {collected['groups_json']}"
        + (f", {collected['paired']['json']}, {collected['paired']['markdown']}"
           if collected["paired"] else "")
        + (f" and {len(collected['png'])} plot(s)" if collected["png"] else ""))


if __name__ == "__main__":
  app.run(main, argv=startup.prepare_command_line(sys.argv), flags_parser=startup.parse_flags)
