"""Train-step speed of AlexNet with each way of writing its 3x3 max-pool, in one run.

The same plain Flax AlexNet (benchmarks/plain_flax_models.py, width 64, batch 128, fp32,
SGD + Nesterov; max-pools at --pool_stride) with only the max-pool swapped:
  nn_max_pool        `nn.max_pool(padding='SAME')` (XLA reduce-window; the plain reference)
  reduce_window      reduce-window over the map padded (1, 1) with -inf, as the zoo pads
  window_slices      the elementwise max of the 9 strided slices of the padded map
  rows_then_columns  the zoo's `layers.max_pool`: a max over 3 row slices, then 3 column
                     slices
All but nn_max_pool give the same values (tests/test_conv_pool_layers.py); 'SAME' aligns the
windows differently at stride 2 (pads (0, 1) instead of (1, 1)), at the same cost. The forms
are timed in alternating blocks; ratios are to nn_max_pool, wall and CPU time (docs/performance.md,
Speed against plain Flax and PyTorch).

  python -m benchmarks.max_pool_forms                  # stride 2 (alexnet)
  python -m benchmarks.max_pool_forms --pool_stride=1  # stride 1 (alexnet_nostride)
"""
from __future__ import annotations

from absl import app, flags
import jax
import jax.numpy as jnp
from benchmarks.plain_flax_models import PlainAlexNet, flax_max_pool
from benchmarks.step_timing import StepTime, median_step_time, time_run, timed_jax_step
from models import layers
from models.padding import pad_spatial, same_pads

_STRIDE = flags.DEFINE_integer("pool_stride", 2, "Stride of both max-pools (1 or 2).")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size of a train step.")
_STEPS = flags.DEFINE_integer("steps", 3, "Train steps per timed block.")
_REPEATS = flags.DEFINE_integer("repeats", 7, "Alternating timed blocks per form.")


def _padded(x: jnp.ndarray, window: int) -> jnp.ndarray:
  return pad_spatial(x, same_pads(window), "zeros", fill=-jnp.inf)


def _reduce_window(x, window, stride):
  return jax.lax.reduce_window(_padded(x, window), -jnp.inf, jax.lax.max,
                               (1, window, window, 1), (1, stride, stride, 1), "VALID")


def _window_slices(x, window, stride):
  return layers.elementwise_max(layers.strided_slices(_padded(x, window), window, stride,
                                                      axes=(1, 2)))


FORMS = {
    "nn_max_pool": flax_max_pool,
    "reduce_window": _reduce_window,
    "window_slices": _window_slices,
    "rows_then_columns": lambda x, window, stride: layers.max_pool(x, window, stride,
                                                                   padding="zeros"),
}


def main(argv):
  del argv
  timed = {name: timed_jax_step(PlainAlexNet(pool_stride=_STRIDE.value, max_pool=form),
                                _BATCH.value)
           for name, form in FORMS.items()}
  times = {name: [] for name in timed}
  for _ in range(_REPEATS.value):
    for name, impl in timed.items():
      times[name].append(time_run(impl, _STEPS.value))
  medians: dict[str, StepTime] = {name: median_step_time(t) for name, t in times.items()}
  base = medians["nn_max_pool"]
  print(f"AlexNet train step, max-pool stride {_STRIDE.value}, batch {_BATCH.value}; "
        f"{_STEPS.value} steps x {_REPEATS.value} alternating blocks; jax {jax.__version__}")
  print(f"{'form':<20}{'wall img/s':>12}{'cpu img/s':>12}{'wall ratio':>12}{'cpu ratio':>12}")
  for name, m in medians.items():
    print(f"{name:<20}{_BATCH.value / m.wall_s:>12.1f}{_BATCH.value / m.cpu_s:>12.1f}"
          f"{base.wall_s / m.wall_s:>12.2f}{base.cpu_s / m.cpu_s:>12.2f}")


if __name__ == "__main__":
  app.run(main)
