"""train.py on the tiny test config in a fresh process, with fault injection (for device-count,
kill/resume, full-disk and NaN tests).

  python tests/tiny_run.py WORKDIR [--override key.path=value ...]
      [--kill-during-save N | --disk-full-during-save N | --nan-at-step N]

Runs train.py's own main() (flags, error handling and exit status as the command has them)
with --config tests/tiny_config.py and every override as --config.key.path=value.
Fault injection:
  --kill-during-save N: SIGKILL while orbax writes checkpoint N in the background (in the
    middle of writing the state's metadata file, after its arrays), like a preempted job.
  --disk-full-during-save N: that write fails with OSError(ENOSPC) instead.
  --nan-at-step N: the parameters become NaN inside the jitted step N, so its loss and
    gradients are NaN.
  --step-delay S: sleep S seconds after every train step (to SIGTERM a run mid-way).
  --fail-reads N [N ...]: every read of checkpoint N (orbax's CheckpointManager.restore)
    raises OSError in this process only, while train.py runs (as a file that only this host
    cannot read: given to one process of a multi-host run).
With --coordinator HOST:PORT --process-id I: process I of a 2-process run (jax.distributed).
With --evaluate-first, the latest checkpoint is first evaluated (python -m evaluate's
evaluate_workdir, one tiny protocol) and analysed (evaluate.layers, shiftability on 2 images),
printing {"evaluated": step, "digest": ...} for each restore they make and {"eval_step": ...,
"matmul_precision": ...}; training (resuming) follows.
Prints one JSON line per checkpoint save as it starts ({"saved": step, "digest": ...}, the
digest of the parameters being saved) and, when a checkpoint is restored, {"restored": step,
"digest": ...}; at the end (if the run succeeded) one JSON line: the summary plus the final
train loss, the digest of the latest checkpoint's parameters and the step it holds.

Tests call `run_tiny(workdir, *args, devices=N)`, which runs this file in a subprocess with N
fake CPU devices and returns a Run (exit status, JSON lines, stderr).
"""
import argparse
import dataclasses
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

TINY_CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_config.py")


# ---- For the tests (the parent process).

TINY_RUN = os.path.abspath(__file__)
REPO_ROOT = os.path.dirname(os.path.dirname(TINY_RUN))
# Cheaper XLA CPU compilation (compile time dominates these runs); every run uses the same.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
WIDTH = ["model.width=4"]


@dataclasses.dataclass
class Run:
  """A finished tiny_run.py process: its exit status, JSON lines and stderr."""
  returncode: int
  records: list
  stderr: str

  def steps(self, key: str) -> dict:
    """{step: params digest} of the `key` records ('saved', 'restored', 'evaluated')."""
    return {r[key]: r["digest"] for r in self.records if key in r}

  def evaluated(self) -> list:
    return [(r["evaluated"], r["digest"]) for r in self.records if "evaluated" in r]

  @property
  def summary(self) -> dict:
    return self.records[-1]

  @property
  def last_stderr_line(self) -> str:
    return self.stderr.strip().splitlines()[-1]


def tiny_command(workdir, *args, devices=1, overrides=()) -> tuple[list, dict]:
  """The command line and environment of tests/tiny_run.py with `devices` fake CPU devices."""
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices} {FAST_COMPILE}")
  return [sys.executable, TINY_RUN, str(workdir), *args, "--override", *WIDTH,
          *overrides], env


def run_tiny(workdir, *args, devices=1, overrides=(), check=True) -> Run:
  """Runs tests/tiny_run.py (train.py on the tiny config) with `devices` fake CPU devices."""
  command, env = tiny_command(workdir, *args, devices=devices, overrides=overrides)
  result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600,
                          cwd=REPO_ROOT)
  records = []
  for line in result.stdout.splitlines():
    if line.startswith("{"):
      records.append(json.loads(line))
  if check:
    assert result.returncode == 0, result.stderr[-3000:]
  return Run(result.returncode, records, result.stderr)


def train_main_in_process(monkeypatch, workdir, *overrides, config_file=TINY_CONFIG_FILE):
  """train.py's own main() in this process (its flags and its error handling: the project's
  errors end as SystemExit("error: <one line>"), exit status 1, as the command prints them)
  on `config_file` with `--config.<override>` flags; for the tests of errors found before
  any compilation, where a new process would only add its imports."""
  import train  # pylint: disable=g-import-not-at-top  (defines train.py's flags)
  argv = ["train.py", "--config", config_file, "--workdir", str(workdir),
          *(f"--config.{item}" for item in overrides)]
  monkeypatch.setattr(sys, "argv", argv)  # (ml_collections reads overrides from sys.argv)
  try:
    train.main(flags.FLAGS(argv))
  finally:
    flags.FLAGS.unparse_flags()
    for name in [n for n in flags.FLAGS if n.startswith("config.")]:  # (the overrides, defined
      delattr(flags.FLAGS, name)                                     # as flags when parsed)


def params_digest(params) -> str:
  """sha256 of every parameter's bytes, in a fixed order: equal iff bitwise equal."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(params):
    digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
  return digest.hexdigest()


# ---- The child process.


def _say(**record) -> None:
  print(json.dumps(record), flush=True)


def _report_saves_and_restores() -> None:
  from runtime import checkpointing  # pylint: disable=g-import-not-at-top
  real_save, real_restore = checkpointing.CheckpointWriter.save, checkpointing.CheckpointWriter.restore

  def save(self, step, state, config):
    _say(saved=step, digest=params_digest(state.params))
    real_save(self, step, state, config)

  def restore(self, *args, **kwargs):
    restored = real_restore(self, *args, **kwargs)
    if restored is not None:
      _say(restored=restored.step, digest=params_digest(restored.state.params))
    return restored

  checkpointing.CheckpointWriter.save, checkpointing.CheckpointWriter.restore = save, restore


def _fail_background_write(step: int, fail) -> None:
  """Calls `fail(path, text)` instead of orbax's write of the state's tree metadata file of
  checkpoint `step`: orbax writes it in its background thread after the arrays, while the
  step is still a temporary directory. Exits with status 3 if that never happens (an orbax
  version that writes elsewhere), so that a test cannot pass without the fault."""
  import atexit  # pylint: disable=g-import-not-at-top
  from orbax.checkpoint._src.handlers import base_pytree_checkpoint_handler as handler  # pylint: disable=g-import-not-at-top
  from orbax.checkpoint._src.path import async_path  # pylint: disable=g-import-not-at-top
  from orbax.checkpoint._src.path import atomicity  # pylint: disable=g-import-not-at-top
  real_write_text = async_path.write_text
  prefix = f"{step}{atomicity.TMP_DIR_SUFFIX}"
  fired = []

  async def write_text(path, text):
    parts = str(path).split(os.sep)
    if parts[-1] == handler.PYTREE_METADATA_FILE and any(p.startswith(prefix) for p in parts):
      fired.append(path)
      fail(path, text)
    return await real_write_text(path, text)

  async_path.write_text = write_text
  atexit.register(lambda: fired or os._exit(3))  # pylint: disable=protected-access


def _die(path, text) -> None:
  with open(path, "w") as f:  # half a file, as a kill in the middle of a write leaves it
    f.write(text[:len(text) // 2])
  os.kill(os.getpid(), signal.SIGKILL)


def _disk_full(path, text) -> None:
  del text
  raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _poison_step(nan_step: int) -> None:
  """The train step numbered `nan_step` (1-based) computes with NaN parameters."""
  from training import train_loop  # pylint: disable=g-import-not-at-top
  real_make_train_step = train_loop.make_train_step

  def make_train_step(*args, **kwargs):
    step_fn = real_make_train_step(*args, **kwargs)

    def poisoned(state, *rest):
      poison = state.step == nan_step - 1
      params = jax.tree.map(lambda p: jnp.where(poison, jnp.nan, p), state.params)
      return step_fn(state.replace(params=params), *rest)

    return poisoned

  train_loop.make_train_step = make_train_step


def _slow_steps(seconds: float) -> None:
  """Sleeps `seconds` after every train step (the run's numbers are unchanged), so that a
  test can signal the run mid-way."""
  import time  # pylint: disable=g-import-not-at-top
  from training import hooks  # pylint: disable=g-import-not-at-top
  real_call = hooks.SaveOnPreemption.__call__

  def call(self, step, state, record):
    time.sleep(seconds)
    return real_call(self, step, state, record)

  hooks.SaveOnPreemption.__call__ = call


def _fail_reads(steps: set, active: list) -> None:
  """Reads of checkpoints `steps` raise OSError in this process while `active` is non-empty."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  real_restore = ocp.CheckpointManager.restore

  def restore(self, step, *args, **kwargs):
    if active and step in steps:
      raise OSError(f"simulated read failure of checkpoint {step} on this host only")
    return real_restore(self, step, *args, **kwargs)

  ocp.CheckpointManager.restore = restore


def _evaluate(workdir: str) -> None:
  """Evaluates and analyses `workdir`'s latest checkpoint with tiny settings."""
  from evaluate.layers import runner  # pylint: disable=g-import-not-at-top
  from evaluate.layers.config import default_layers_config  # pylint: disable=g-import-not-at-top
  from evaluate.run import evaluate_workdir  # pylint: disable=g-import-not-at-top
  from runtime import checkpointing  # pylint: disable=g-import-not-at-top
  real_restore = checkpointing.restore_model_variables

  def restore(*args, **kwargs):
    restored = real_restore(*args, **kwargs)
    _say(evaluated=restored.step, digest=params_digest(restored.state["params"]))
    return restored

  checkpointing.restore_model_variables = restore
  report = evaluate_workdir(workdir, {"num_images": 4, "protocols": {
      "circular": {"type": "circular_shift", "max_shift": 1}}}, verbose=False)
  layers = default_layers_config()
  layers.analyses, layers.num_images, layers.images_per_chunk = "shiftability", 2, 2
  layers.shiftability.shifts = ((1, 0),)
  layers.shiftability.feature_map_images = 0
  analysed = runner.analyse_workdir(workdir, layers, verbose=False)
  _say(eval_step=report["checkpoint_step"], matmul_precision=report["matmul_precision"],
       layers_step=analysed["checkpoint_step"])
  checkpointing.restore_model_variables = real_restore


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("workdir")
  parser.add_argument("--override", nargs="*", default=[])
  parser.add_argument("--kill-during-save", type=int, default=None)
  parser.add_argument("--disk-full-during-save", type=int, default=None)
  parser.add_argument("--nan-at-step", type=int, default=None)
  parser.add_argument("--evaluate-first", action="store_true")
  parser.add_argument("--step-delay", type=float, default=0.0)
  parser.add_argument("--fail-reads", type=int, nargs="*", default=[])
  parser.add_argument("--coordinator", default=None)
  parser.add_argument("--process-id", type=int, default=None)
  args = parser.parse_args()

  if args.evaluate_first:
    _evaluate(args.workdir)
  import train  # pylint: disable=g-import-not-at-top  (defines train.py's flags)
  _report_saves_and_restores()
  if args.kill_during_save is not None:
    _fail_background_write(args.kill_during_save, _die)
  if args.disk_full_during_save is not None:
    _fail_background_write(args.disk_full_during_save, _disk_full)
  if args.nan_at_step is not None:
    _poison_step(args.nan_at_step)
  if args.step_delay:
    _slow_steps(args.step_delay)
  failing_reads = [True]
  if args.fail_reads:
    _fail_reads(set(args.fail_reads), failing_reads)

  # (ml_collections finds the --config.* overrides in sys.argv.)
  sys.argv = ["train.py", "--config", TINY_CONFIG_FILE, "--workdir", args.workdir] + [
      f"--config.{item}" for item in args.override]
  if args.coordinator:
    sys.argv += [f"--coordinator_address={args.coordinator}", "--num_processes=2",
                 f"--process_id={args.process_id}"]
  argv = flags.FLAGS(sys.argv)
  train.main(argv)  # exits with train.py's message and status on a known error
  failing_reads.clear()

  from runtime import checkpointing  # pylint: disable=g-import-not-at-top
  tree, step = checkpointing.load_latest(args.workdir)
  with open(os.path.join(args.workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  with open(os.path.join(args.workdir, "summary.json")) as f:
    summary = json.load(f)
  last_loss = [r["train_loss"] for r in records if "train_loss" in r][-1]
  _say(**summary, checkpoint_step=step, last_train_loss=last_loss,
       params_digest=params_digest(tree["params"]))


if __name__ == "__main__":
  main()
