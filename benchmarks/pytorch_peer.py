"""Train-step speed of the zoo beside a plain Flax version and a PyTorch version, one run.

For each model and compute dtype, three implementations of the same network (same layer
shapes; parameter counts printed) take the same train step on a fixed batch: forward,
cross-entropy, backward, SGD + Nesterov update (weight decay on). They are timed in blocks of
`--steps` steps, alternating between implementations `--repeats` times in one process, so the
ratios are robust to a busy machine even where the img/s are not. Every block is timed twice:
wall-clock time (time.perf_counter) and the process's CPU time (time.process_time, which
counts every thread of the process: XLA's and PyTorch's intra-op pools alike). On a machine
shared with other work the wall time includes waiting for a core and the CPU time does not,
so the CPU-time ratio is the steadier measure of how much work each implementation does; on
an idle machine (or a GPU, where the host CPU time means little) quote the wall-clock ratio.

  project     the registered zoo model (models.build_model) and the project's update function
  plain_flax  the same network in plain Flax linen (benchmarks/plain_flax_models.py)
  pytorch     the same network in PyTorch (benchmarks/torch_models.py), NCHW or channels_last,
              bfloat16 through torch.autocast

  python -m benchmarks.pytorch_peer                                   # CPU: batch 128, fp32
  python -m benchmarks.pytorch_peer --batch_size=512 --dtypes=float32,bfloat16   # a GPU
  python -m benchmarks.pytorch_peer --models=vit,cct --frameworks=project,plain_flax \
      --width=48 --steps=3 --repeats=15          # the transformers (no PyTorch version)

PyTorch is an optional install for this benchmark only (`pip install torch`); without it the
benchmark says so and exits with status 2 unless `--frameworks` leaves pytorch out.
"""
from __future__ import annotations

import dataclasses
import sys
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

import models
from benchmarks.plain_flax_models import PLAIN_MODELS
from benchmarks.step_timing import Timed, timed_jax_step
from configs import default
from data.constants import IMAGE_SHAPE

FRAMEWORKS = ("project", "plain_flax", "pytorch")
_MODELS = flags.DEFINE_list("models", ["alexnet", "alexnet_nostride", "resnet20"],
                            f"Models to time: any of {', '.join(PLAIN_MODELS)}.")
_FRAMEWORKS = flags.DEFINE_list("frameworks", list(FRAMEWORKS),
                                f"Implementations to time: any of {', '.join(FRAMEWORKS)}.")
_DTYPES = flags.DEFINE_list("dtypes", ["float32"], "Compute dtypes: float32 and/or bfloat16.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size of a train step.")
_WIDTH = flags.DEFINE_integer("width", 0, "Width of every model (0 = each model's default).")
_STEPS = flags.DEFINE_integer("steps", 5, "Train steps per timed block.")
_REPEATS = flags.DEFINE_integer("repeats", 7, "Alternating timed blocks per implementation.")
_CHANNELS_LAST = flags.DEFINE_bool("channels_last", True,
                                   "PyTorch: use the channels_last memory format.")

_NUM_CLASSES = 10


def _project(name: str, width: int | None, dtype: str, batch: int) -> Timed:
  options = {"dtype": dtype, **({"width": width} if width else {})}
  return timed_jax_step(models.build_model(name, **options), batch, _NUM_CLASSES)


def _plain_flax(name: str, width: int | None, dtype: str, batch: int) -> Timed:
  return timed_jax_step(PLAIN_MODELS[name](width, getattr(jnp, dtype)), batch, _NUM_CLASSES)


def _pytorch(name: str, width: int | None, dtype: str, batch: int) -> Timed:
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks.torch_models import TORCH_MODELS  # pylint: disable=g-import-not-at-top
  device = "cuda" if torch.cuda.is_available() else "cpu"
  net = TORCH_MODELS[name](width).to(device).train()
  memory_format = torch.channels_last if _CHANNELS_LAST.value else torch.contiguous_format
  net = net.to(memory_format=memory_format)
  config = default.get_config().train
  optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=config.momentum,
                              nesterov=config.nesterov, weight_decay=config.weight_decay)
  generator = torch.Generator().manual_seed(0)
  inputs = torch.randn((batch, 3, *IMAGE_SHAPE[:2]), generator=generator).to(
      device, memory_format=memory_format)
  labels = torch.randint(0, _NUM_CLASSES, (batch,), generator=generator).to(device)
  loss_fn = torch.nn.CrossEntropyLoss()
  autocast_dtype = {"float32": None, "bfloat16": torch.bfloat16}[dtype]

  def step() -> None:
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device, dtype=autocast_dtype or torch.float32,
                        enabled=autocast_dtype is not None):
      loss = loss_fn(net(inputs), labels)
    loss.backward()
    optimizer.step()

  def run(steps: int) -> None:
    for _ in range(steps):
      step()
    if device == "cuda":
      torch.cuda.synchronize()

  run(1)  # warm-up (allocator, kernels)
  return Timed(sum(p.numel() for p in net.parameters()), run)


_BUILDERS = {"project": _project, "plain_flax": _plain_flax, "pytorch": _pytorch}


def _check_flags() -> None:
  for value, valid, flag in ((_MODELS.value, PLAIN_MODELS, "models"),
                             (_FRAMEWORKS.value, FRAMEWORKS, "frameworks"),
                             (_DTYPES.value, ("float32", "bfloat16"), "dtypes")):
    unknown = sorted(set(value) - set(valid))
    if unknown:
      sys.exit(f"--{flag}: unknown {', '.join(unknown)}; valid: {', '.join(valid)}")
  if "pytorch" in _FRAMEWORKS.value:
    try:
      import torch  # pylint: disable=g-import-not-at-top,unused-import
    except ImportError:
      print("PyTorch is not installed. It is optional and only this benchmark uses it: "
            "`pip install torch` (on a CPU-only machine the CPU build is enough), or run with "
            "--frameworks=project,plain_flax.", file=sys.stderr)
      sys.exit(2)
    from benchmarks.torch_models import TORCH_MODELS  # pylint: disable=g-import-not-at-top
    missing = sorted(set(_MODELS.value) - set(TORCH_MODELS))
    if missing:
      sys.exit(f"--models: no PyTorch version of {', '.join(missing)} (PyTorch has "
               f"{', '.join(TORCH_MODELS)}); time them with --frameworks=project,plain_flax")


@dataclasses.dataclass
class Measured:
  """One implementation's result: parameter count and median images per second, by the
  wall clock and by the process's CPU time (all threads)."""
  params: int
  wall_img_s: float
  cpu_img_s: float


def benchmark(name: str, dtype: str) -> dict[str, Measured]:
  """{framework: Measured} for one model and dtype, from alternating timed blocks."""
  width = _WIDTH.value or None
  timed = {fw: _BUILDERS[fw](name, width, dtype, _BATCH.value) for fw in _FRAMEWORKS.value}
  wall = {fw: [] for fw in timed}
  cpu = {fw: [] for fw in timed}
  for _ in range(_REPEATS.value):
    for fw, impl in timed.items():
      wall_start, cpu_start = time.perf_counter(), time.process_time()
      impl.run(_STEPS.value)
      cpu[fw].append((time.process_time() - cpu_start) / _STEPS.value)
      wall[fw].append((time.perf_counter() - wall_start) / _STEPS.value)
  return {fw: Measured(timed[fw].params, _BATCH.value / float(np.median(wall[fw])),
                       _BATCH.value / float(np.median(cpu[fw])))
          for fw in timed}


def main(argv):
  del argv
  _check_flags()
  versions = f"jax {jax.__version__}"
  if "pytorch" in _FRAMEWORKS.value:
    import torch  # pylint: disable=g-import-not-at-top
    versions += f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); {versions}; batch "
        f"{_BATCH.value}; width {_WIDTH.value or 'model default'}; {_STEPS.value} steps x "
        f"{_REPEATS.value} alternating blocks")
  frameworks = list(_FRAMEWORKS.value)
  ratios = [fw for fw in ("plain_flax", "pytorch") if fw in frameworks and "project" in frameworks]
  for clock in ("wall", "cpu"):
    print(f"{clock} img/s = batch / median {clock} seconds per step"
          + (" (process CPU time, all threads)" if clock == "cpu" else ""))
  header = f"{'model':<18}{'dtype':<10}{'params':>12}" + "".join(
      f"{fw + ' ' + clock:>18}" for fw in frameworks for clock in ("wall", "cpu"))
  header += "".join(f"{'project/' + fw + ' ' + clock:>24}"
                    for fw in ratios for clock in ("wall", "cpu"))
  print(header)
  for name in _MODELS.value:
    for dtype in _DTYPES.value:
      result = benchmark(name, dtype)
      counts = {measured.params for measured in result.values()}
      params = f"{counts.pop():,}" if len(counts) == 1 else "MISMATCH " + "/".join(
          f"{result[fw].params:,}" for fw in frameworks)
      line = f"{name:<18}{dtype:<10}{params:>12}" + "".join(
          f"{result[fw].wall_img_s:>18.1f}{result[fw].cpu_img_s:>18.1f}" for fw in frameworks)
      line += "".join(
          f"{result['project'].wall_img_s / result[fw].wall_img_s:>24.2f}"
          f"{result['project'].cpu_img_s / result[fw].cpu_img_s:>24.2f}" for fw in ratios)
      print(line, flush=True)


if __name__ == "__main__":
  app.run(main)
