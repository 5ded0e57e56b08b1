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
Prints one JSON line per checkpoint save as it starts ({"saved": step, "digest": ...}, the
digest of the parameters being saved) and, when a checkpoint is restored, {"restored": step,
"digest": ...}; at the end (if the run succeeded) one JSON line: the summary plus the final
train loss, the digest of the latest checkpoint's parameters and the step it holds.
"""
import argparse
import errno
import hashlib
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

TINY_CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_config.py")


def params_digest(params) -> str:
  """sha256 of every parameter's bytes, in a fixed order: equal iff bitwise equal."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(params):
    digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
  return digest.hexdigest()


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


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("workdir")
  parser.add_argument("--override", nargs="*", default=[])
  parser.add_argument("--kill-during-save", type=int, default=None)
  parser.add_argument("--disk-full-during-save", type=int, default=None)
  parser.add_argument("--nan-at-step", type=int, default=None)
  args = parser.parse_args()

  import train  # pylint: disable=g-import-not-at-top  (defines train.py's flags)
  _report_saves_and_restores()
  if args.kill_during_save is not None:
    _fail_background_write(args.kill_during_save, _die)
  if args.disk_full_during_save is not None:
    _fail_background_write(args.disk_full_during_save, _disk_full)
  if args.nan_at_step is not None:
    _poison_step(args.nan_at_step)

  # (ml_collections finds the --config.* overrides in sys.argv.)
  sys.argv = ["train.py", "--config", TINY_CONFIG_FILE, "--workdir", args.workdir] + [
      f"--config.{item}" for item in args.override]
  argv = flags.FLAGS(sys.argv)
  train.main(argv)  # exits with train.py's message and status on a known error

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
