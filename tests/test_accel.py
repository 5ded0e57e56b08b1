"""Ready for an accelerator: bfloat16 compute, donated state, no host round trips in the
train step, optional packages kept out of the paths that do not need them."""
import json
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import augment
import models
from configs import default
from runtime.mesh import make_data_parallel_mesh
from tests.conftest import REPO_ROOT, tiny_config, tiny_eval_config
from training import train_loop
from training.optim import build_optimizer
from training.state import TrainState
from training.steps import (epoch_permutation, jit_train_step, make_train_step,
                            make_update_fn)


def _conv_operand_dtypes(jaxpr) -> list:
  """The dtypes of the operands of every convolution in `jaxpr` and its sub-jaxprs."""
  found = []
  for equation in jaxpr.eqns:
    if equation.primitive.name == "conv_general_dilated":
      found += [var.aval.dtype for var in equation.invars]
    for param in equation.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        if isinstance(sub, jax.extend.core.ClosedJaxpr):
          found += _conv_operand_dtypes(sub.jaxpr)
        elif isinstance(sub, jax.extend.core.Jaxpr):
          found += _conv_operand_dtypes(sub)
  return found


@pytest.mark.parametrize("name", ["resnet20", "alexnet"])
def test_bfloat16_computes_in_bfloat16_and_keeps_params_stats_and_loss_float32(name):
  train = default.get_config().train
  tx, _ = build_optimizer(train, total_steps=10, steps_per_epoch=5)
  inputs = jnp.zeros((4, 16, 16, 3), jnp.float32)
  labels = jnp.asarray([0, 1, 2, 3], jnp.int32)
  model = models.build_model(name, width=4, dtype="bfloat16")
  state = jax.eval_shape(lambda: TrainState.create(  # shapes only: nothing runs
      model.init(jax.random.key(0), inputs, train=False), tx))
  update = make_update_fn(model, tx, num_classes=10, label_smoothing=0.1)
  jaxpr = jax.make_jaxpr(update)(state, inputs, labels)  # traced, not compiled
  # Every convolution, forward and backward, computes in bfloat16...
  assert set(_conv_operand_dtypes(jaxpr.jaxpr)) == {jnp.dtype(jnp.bfloat16)}
  # ...while the new params, BatchNorm statistics, optimiser state and loss are float32.
  new_state = jax.tree.unflatten(jax.tree.structure(state), jaxpr.out_avals)
  for tree in (new_state.params, new_state.batch_stats, new_state.opt_state):
    assert {leaf.dtype for leaf in jax.tree.leaves(tree)
            if jnp.issubdtype(leaf.dtype, jnp.floating)} == {jnp.dtype(jnp.float32)}
  assert new_state.batch_stats and new_state.loss_sum.dtype == jnp.float32


@pytest.mark.slow
def test_bfloat16_logits_match_float32_to_bfloat16_rounding():
  rng = np.random.default_rng(0)
  inputs = jnp.asarray(rng.standard_normal((4, 16, 16, 3)), jnp.float32)
  variables = jax.jit(models.build_model("alexnet", width=4).init)(jax.random.key(0), inputs)
  logits = {dtype: np.asarray(jax.jit(models.build_model("alexnet", width=4, dtype=dtype).apply)(
      variables, inputs)) for dtype in ("float32", "bfloat16")}  # the same float32 weights
  assert logits["bfloat16"].dtype == np.float32  # the logits layer returns float32
  scale = np.abs(logits["float32"]).max()
  assert 0 < np.abs(logits["bfloat16"] - logits["float32"]).max() < 0.05 * scale


def _tiny_step(augment_config, shardings):
  model = models.build_model("alexnet", width=4)
  train = default.get_config().train
  tx, _ = build_optimizer(train, total_steps=100, steps_per_epoch=4)
  rng = np.random.default_rng(0)
  images = jax.device_put(rng.integers(0, 256, (64, 32, 32, 3), np.uint8), shardings.replicated)
  labels = jax.device_put(rng.integers(0, 10, (64,), np.int32), shardings.replicated)
  root_key = jax.jit(lambda: jax.random.key(0), out_shardings=shardings.replicated)()
  state = jax.jit(lambda key: TrainState.create(model.init(key, jnp.zeros((1, 32, 32, 3)),
                                                           train=False), tx),
                  out_shardings=shardings.replicated)(root_key)
  step = jit_train_step(make_train_step(
      model, tx, augment.build_augment(augment_config), batch_size=16, steps_per_epoch=4,
      num_classes=10, label_smoothing=0.0, batch_sharding=shardings.batch),
      shardings.replicated)
  permutation = jax.jit(epoch_permutation, static_argnums=2)(root_key, 0, 64)
  return step, state, (root_key, images, labels, permutation)


@pytest.fixture(scope="module")
def tiny_step():
  """The jitted train step of a width-4 AlexNet with crop and alternating flips, its fresh
  state and its arguments (root key, on-device images and labels, permutation)."""
  config = augment.default_augment_config()
  config.policies = "crop,alternating_flip"
  return _tiny_step(config, make_data_parallel_mesh())


@pytest.mark.slow
def test_train_step_donates_the_state_and_runs_under_a_transfer_guard(tiny_step):
  step, state, args = tiny_step
  compiled = step.lower(state, *args).compile()
  old_leaves = jax.tree.leaves(state)
  with jax.transfer_guard("disallow"):
    for _ in range(3):
      state = compiled(state, *args)
  jax.block_until_ready(state)
  assert all(leaf.is_deleted() for leaf in old_leaves)  # donated: reused, not copied
  assert int(jax.device_get(state.step)) == 3
  # A host argument is a transfer, which the guard refuses (so the loop's guard can fail).
  with jax.transfer_guard("disallow"), pytest.raises(Exception, match="[Dd]isallowed"):
    compiled(state, args[0], np.asarray(args[1]), *args[2:])


def host_callbacks(hlo_text: str) -> list[str]:
  """The custom calls of a compiled program that call back into Python on the host."""
  return [target for target in re.findall(r'custom_call_target="([^"]*)"', hlo_text)
          if "callback" in target]


def test_compiled_train_step_holds_no_host_callback(tiny_step):
  step, state, args = tiny_step
  assert host_callbacks(step.lower(state, *args).compile().as_text()) == []
  # The check can fail: a program that prints from the device calls back to the host.
  printing = jax.jit(lambda x: jax.debug.print("{x}", x=x) or x + 1)
  assert host_callbacks(printing.lower(jnp.ones(3)).compile().as_text())


@pytest.mark.slow
def test_train_loop_runs_every_step_under_the_transfer_guard(tmp_path, monkeypatch):
  # A step that takes a host array (as a regression would) fails at the first step, before
  # anything is checkpointed: the loop dispatches every step under the guard. (The real step
  # is replaced by one that transfers, so nothing big compiles here; every training test
  # runs the real step under the same guard.)
  class Transferring:
    def lower(self, state, *args):
      return self

    def compile(self):
      add = jax.jit(lambda s, x: s.replace(count=s.count + x.sum()))
      return lambda state, *args: add(state, np.ones(3, np.float32))  # a host array

  monkeypatch.setattr(train_loop, "jit_train_step", lambda step, replicated: Transferring())
  config = tiny_config()
  config.model.width = 4
  with pytest.raises(Exception, match="[Dd]isallowed host-to-device"):
    train_loop.train(config, str(tmp_path))
  assert not os.path.exists(tmp_path / "checkpoints" / "4")


_WITHOUT_OPTIONAL = textwrap.dedent("""
    import importlib.abc, json, sys
    BLOCKED = ("tensorboardX", "tqdm", "matplotlib", "tensorflow_datasets", "tensorflow",
               "array_record")

    class Block(importlib.abc.MetaPathFinder):
      def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
          raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None

    sys.meta_path.insert(0, Block())
    sys.path.insert(0, sys.argv[2])
    import importlib.util
    _find_spec = importlib.util.find_spec
    importlib.util.find_spec = lambda name, *a: (
        None if name.split(".")[0] in BLOCKED else _find_spec(name, *a))
    from pipeline.train_then_evaluate import train_and_evaluate
    from tests.conftest import tiny_config, tiny_eval_config
    import jax, numpy as np
    from runtime import checkpointing
    config = tiny_eval_config(tiny_config())
    config.train.num_steps = 8
    # bfloat16 compute and the fast recipe's training features, in the real loop (every
    # step under its transfer guard).
    config.model.dtype = "bfloat16"
    config.augment.policies = "crop,alternating_flip"
    config.train.lookahead.sync_period = 3
    config.train.label_smoothing = 0.2
    config.eval.run_after_training = True
    summary = train_and_evaluate(config, sys.argv[1])
    tree, step = checkpointing.load_latest(sys.argv[1])
    print(json.dumps({
        "steps": summary["steps"], "checkpoint": step,
        "param_dtypes": sorted({str(np.asarray(x).dtype) for x in jax.tree.leaves(tree)}),
        "loaded": sorted(m for m in BLOCKED if m in sys.modules)}))
""")


@pytest.mark.slow
def test_bfloat16_fast_recipe_run_trains_and_evaluates_without_the_optional_packages(tmp_path):
  """tensorboardX, tqdm, matplotlib and TFDS absent (as on an accelerator image with its own
  Python): a bfloat16 run with alternating flips and Lookahead trains (its checkpoint all
  float32) and evaluates; only event files and plots are missing."""
  script = tmp_path / "run.py"
  script.write_text(_WITHOUT_OPTIONAL)
  workdir = tmp_path / "run"
  completed = subprocess.run([sys.executable, str(script), str(workdir), REPO_ROOT],
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
  assert completed.returncode == 0, completed.stderr[-3000:]
  result = json.loads(completed.stdout.strip().splitlines()[-1])
  assert result == {"steps": 8, "checkpoint": 8, "param_dtypes": ["float32", "int32"],
                    "loaded": []}
  assert (workdir / "metrics.jsonl").exists() and (workdir / "eval" / "eval.json").exists()
  assert not list(workdir.glob("events.out.tfevents.*"))
  assert not list((workdir / "eval").glob("*.png"))
  assert "tensorboardX is not installed" in completed.stderr
