"""Shared test fixtures: a tiny config that trains in seconds on synthetic data.

The whole test session, subprocesses included (they inherit the environment), shares one
persistent JAX compilation cache in a temporary directory: many tests compile the same tiny
programs, and XLA's compile time is most of this suite's time on a CPU. The cache only
returns what compiling would have produced (same program, same executable), and is removed at
the end of the session. A cache directory already set in the environment is kept. Under
pytest-xdist each worker (and the processes it starts) has a directory of its own inside the
session's: JAX writes cache entries without a lock, and a worker must not read another's
half-written entry.

The test process and its subprocesses compile with XLA's cheap CPU options (FAST_COMPILE, as
tests/tiny_run.py's runs always did): the tests' programs are tiny, and compiling them is
what takes the time, not running them. Both sides of every comparison between the test
process and a subprocess compile the same way.
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

# Cheaper XLA CPU compilation (compile time dominates the tests); added to XLA_FLAGS.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
_SESSION_CACHE = "CIFAR_INVARIANCE_TEST_JAX_CACHE"  # the session's directory, set by this file


def _share_compilation_cache() -> None:
  """Sets JAX_COMPILATION_CACHE_DIR for this process and the processes it starts."""
  session = os.environ.get(_SESSION_CACHE)
  if os.environ.get("JAX_COMPILATION_CACHE_DIR") and not session:
    return  # the user's own
  if not session:
    session = tempfile.mkdtemp(prefix="cifar_invariance_test_jax_cache_")
    atexit.register(shutil.rmtree, session, ignore_errors=True)
    os.environ[_SESSION_CACHE] = session
  worker = os.environ.get("PYTEST_XDIST_WORKER")
  directory = os.path.join(session, worker) if worker else session
  os.makedirs(directory, exist_ok=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = directory
  # Cache every program, however quickly it compiled (the default skips those under 1 s).
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"


def _compile_cheaply() -> None:
  """Adds FAST_COMPILE to XLA_FLAGS (before JAX starts), unless they already set those flags."""
  flags = os.environ.get("XLA_FLAGS", "")
  if "--xla_backend_optimization_level" not in flags:
    os.environ["XLA_FLAGS"] = f"{flags} {FAST_COMPILE}".strip()


_share_compilation_cache()
_compile_cheaply()

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)

# ---- `pytest -m "not slow"` starts no process: a test that starts one must be marked slow.

_running: list = []  # the test item being set up, run or torn down (at most one)
_real_popen_init = subprocess.Popen.__init__


def _popen_init_in_slow_tests_only(self, args, *rest, **kwargs):
  """subprocess.Popen, refused (RuntimeError) inside a test not marked slow (its fixtures'
  set-up and tear-down included): each new Python process costs seconds of imports."""
  if _running and _running[-1].get_closest_marker("slow") is None:
    raise RuntimeError(f"{_running[-1].nodeid} starts a process ({args!r}) but is not marked "
                       "slow: add @pytest.mark.slow (README, Tests).")
  _real_popen_init(self, args, *rest, **kwargs)


subprocess.Popen.__init__ = _popen_init_in_slow_tests_only


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
  """Records the running test for _popen_init_in_slow_tests_only."""
  del nextitem
  _running.append(item)
  try:
    return (yield)
  finally:
    _running.remove(item)



def tiny_config():
  """A config for a few-second run: narrow AlexNet, 256 synthetic images, batch 32."""
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.data.source = "synthetic"
  config.data.synthetic_train_size = 256
  config.data.synthetic_test_size = 64
  config.model.name = "alexnet"
  config.model.width = 8
  config.augment.policies = "crop,flip"
  config.train.batch_size = 32
  config.train.num_steps = 12
  config.train.learning_rate = 0.05
  config.train.warmup_epochs = 0.0
  config.train.eval_batch_size = 32
  config.train.log_every_steps = 4
  config.train.checkpoint_every_steps = 4
  config.train.keep_checkpoints = 10
  return config


def tiny_eval_config(config, *, jagged_images=0, sample_pairs=0, protocol_images=0):
  """`config` with an invariance evaluation of seconds: 8 test images, black embeddings of
  sizes 26 and 28 (full grids, or `sample_pairs` pairs per image and size), on all 8 images
  or on `protocol_images` of them (the protocol's num_images)."""
  config.eval.num_images = 8
  config.eval.num_jagged_images = jagged_images
  config.eval.protocols = dict(embed_black=dict(type="embed_shift", sizes=(26, 28),
                                                fill="black", sample_pairs=sample_pairs))
  if protocol_images:
    config.eval.protocols.embed_black.num_images = protocol_images
  return config


_TINY_SWEEP_FILE = """
from sweeps import default_sweep_config
from tests.conftest import tiny_config, tiny_eval_config


def get_config():
  sweep = default_sweep_config(tiny_eval_config(tiny_config(), sample_pairs=2,
                                                protocol_images={protocol_images}))
  sweep.members = {members}
  sweep.evaluate = {evaluate}
  return sweep
"""


def write_tiny_sweep(path, members, evaluate=True, protocol_images=0) -> str:
  """Writes a sweep config file over tiny_config() with these `members` to `path`
  (tiny_eval_config's protocol on `protocol_images` of its 8 images; 0: all)."""
  with open(path, "w") as f:
    f.write(textwrap.dedent(_TINY_SWEEP_FILE.format(members=members, evaluate=evaluate,
                                                    protocol_images=protocol_images)))
  return str(path)


@pytest.fixture
def tiny():
  return tiny_config()
