"""What the commands ask of XLA's arithmetic, and so which exactness claims hold where.

- Training on CPU is deterministic: a resumed run continues bit for bit like an uninterrupted
  one (tests/test_checkpoints.py). On GPUs some XLA reductions (e.g. in convolution
  gradients) may run in a different order from one run to the next;
  `config.train.deterministic_gpu_ops=True` sets XLA's --xla_gpu_deterministic_ops=true
  (before JAX starts its backends), which makes the GPU ops deterministic, at some speed cost.
  TPUs are deterministic as they are.
- Evaluation computes at the highest matmul and convolution precision
  (EVAL_MATMUL_PRECISION, jax.default_matmul_precision): TPUs (and GPUs with TF32) use fewer
  mantissa bits by default, which would make "max |logit change|" and "exact up to float
  rounding" meaningless. The precision is recorded in eval.json and layers.json.
"""
from __future__ import annotations

import functools
import os
from collections.abc import MutableMapping
from typing import Callable, Optional, TypeVar

import jax

from common.errors import ConfigError

DETERMINISTIC_GPU_FLAG = "--xla_gpu_deterministic_ops"
# jax.default_matmul_precision of every evaluation (float32 products on every platform).
EVAL_MATMUL_PRECISION = "highest"


def _backends_started() -> bool:
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  return bool(xla_bridge.backends_are_initialized())


def require_deterministic_gpu_ops(environ: Optional[MutableMapping[str, str]] = None,
                                  backends_started: Optional[bool] = None) -> None:
  """Adds --xla_gpu_deterministic_ops=true to XLA_FLAGS in `environ` (default os.environ).

  XLA reads XLA_FLAGS once, when JAX starts its backends (the first computation or device
  query), so this must run before that; it does nothing if the flag is already set to true.
  The flag is accepted (and has no effect) on CPU and TPU.

  Raises:
    ValueError: JAX has already started without the flag (e.g. earlier cells of a
      notebook), or XLA_FLAGS sets it to false.
  """
  environ = os.environ if environ is None else environ
  flags = environ.get("XLA_FLAGS", "").split()
  values = [flag.partition("=")[2] for flag in flags
            if flag.partition("=")[0] == DETERMINISTIC_GPU_FLAG]
  if values and values[-1].lower() in ("true", "1", ""):
    return
  if values:
    raise ConfigError(f"config.train.deterministic_gpu_ops=True, but XLA_FLAGS sets "
                      f"{DETERMINISTIC_GPU_FLAG}={values[-1]}.")
  if backends_started is None:
    backends_started = _backends_started()
  if backends_started:
    raise ConfigError(
        "config.train.deterministic_gpu_ops=True needs XLA_FLAGS="
        f"{DETERMINISTIC_GPU_FLAG}=true before JAX starts, but JAX has already started in "
        "this process (e.g. earlier notebook cells). Set it before the first JAX "
        f"computation: os.environ['XLA_FLAGS'] += ' {DETERMINISTIC_GPU_FLAG}=true' (or "
        "export it in the shell), then restart the process.")
  environ["XLA_FLAGS"] = " ".join(flags + [f"{DETERMINISTIC_GPU_FLAG}=true"])


_Function = TypeVar("_Function", bound=Callable)


def at_evaluation_precision(function: _Function) -> _Function:
  """Decorator: `function` traces and compiles at EVAL_MATMUL_PRECISION (jit caches are keyed
  by the precision, so nothing compiled at another precision is reused)."""

  @functools.wraps(function)
  def at_precision(*args, **kwargs):
    with jax.default_matmul_precision(EVAL_MATMUL_PRECISION):
      return function(*args, **kwargs)

  return at_precision


def matmul_precision() -> str:
  """The matmul/convolution precision in effect (jax_default_matmul_precision; 'default' =
  the platform's default), for reports."""
  return str(jax.config.jax_default_matmul_precision or "default")
