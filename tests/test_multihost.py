"""Several processes as one run (runtime/hosts.py, cifar_invariance/host_flags.py).

The module fixture runs the same tiny sweep (a member whose loss diverges, then a member that
trains and runs the grid evaluation) and the layer analyses of its finished member twice, at
the same time: in 2 processes joined by jax.distributed on localhost (1 CPU device each, gloo
collectives, explicit --coordinator_address / --num_processes / --process_id) and in 1 process
with 2 (fake) CPU devices. The tests check that the numbers are equal, that process 1 writes no
file, and that the agreed failure of the diverged member kept the processes in step. Two more
launches check that an error on one process stops the other promptly, with the message.
"""
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

# Cheaper XLA CPU compilation (compile time dominates these tiny runs), as tests/test_devices.py.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
TIMEOUT_S = 600

_SWEEP_CONFIG = """
from sweeps import default_sweep_config
from tests.conftest import tiny_config


def get_config():
  base = tiny_config()
  base.model.width = 4
  base.data.synthetic_train_size = 64
  base.data.synthetic_test_size = 10
  base.train.batch_size = 16
  base.train.eval_batch_size = 5  # rounded up to the 2 devices, the extra row masked
  base.train.num_steps = 3
  base.train.log_every_steps = 1
  base.train.checkpoint_every_steps = 3
  base.eval.num_images = 5
  base.eval.num_jagged_images = 0
  base.eval.protocols = dict(
      circular=dict(type="circular_shift", max_shift=1),
      embed_black=dict(type="embed_shift", sizes=(30,), fill="black", sample_pairs=2))
  sweep = default_sweep_config(base)
  sweep.members = [{"label": "diverges", "train.learning_rate": 1e30}, {"label": "ok"}]
  return sweep
"""
# Shiftability: per-image values from chunks sharded over the devices of both processes, and
# a feature-map figure whose model runs (on every process) before process 0 draws it.
_LAYERS_FLAGS = [
    "--config.analyses=shiftability", "--config.num_images=5", "--config.images_per_chunk=3",
    "--config.shiftability.feature_map_images=1", "--config.shiftability.feature_map_shifts=2",
    "--config.shiftability.feature_map_layers=2"]
OK_MEMBER, DIVERGED_MEMBER = "ok,seed=0", "diverges,seed=0"


def _free_port() -> int:
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    return probe.getsockname()[1]


def _start(args, *, devices=1, umask=None, cwd=REPO_ROOT):
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices} {FAST_COMPILE}"}
  return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def _start_pair(args, per_process=((), ())):
  """2 processes of one run on localhost; process 1 with umask 077, so that any file it
  writes is unreadable by others, process 0 with umask 022."""
  address = f"127.0.0.1:{_free_port()}"
  return [_start([*args, *extra, f"--coordinator_address={address}", "--num_processes=2",
                  f"--process_id={index}"], umask=0o077 if index else 0o022)
          for index, extra in enumerate(per_process)]


def _finish(processes):
  """[(returncode, stdout, stderr, seconds from this call to its exit)] of every process."""
  start, results = time.monotonic(), [None] * len(processes)

  def wait(index, process):
    out, err = process.communicate(timeout=TIMEOUT_S)
    results[index] = (process.returncode, out, err, time.monotonic() - start)

  threads = [threading.Thread(target=wait, args=item) for item in enumerate(processes)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  return results


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("multihost")
  config = root / "sweep_config.py"
  config.write_text(_SWEEP_CONFIG)
  single, multi = str(root / "single"), str(root / "multi")
  sweep = ["sweep.py", f"--config={config}"]
  # Both at once: the 2-process run and the reference, 1 process with 2 devices.
  reference = _start([*sweep, f"--workdir={single}"], devices=2)
  pair = _start_pair([*sweep, f"--workdir={multi}", "--multihost"])
  results = {"sweep_single": _finish([reference])[0], "sweep_multi": _finish(pair)}
  layers = ["-m", "evaluate.layers", *_LAYERS_FLAGS]
  reference = _start([*layers, f"--workdir={os.path.join(single, OK_MEMBER)}"], devices=2)
  pair = _start_pair([*layers, f"--workdir={os.path.join(multi, OK_MEMBER)}"])
  results["layers_single"] = _finish([reference])[0]
  results["layers_multi"] = _finish(pair)
  return dict(single=single, multi=multi, **results)


def _json(*path):
  with open(os.path.join(*path)) as f:
    return json.load(f)


def _metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  for record in records:
    del record["images_per_sec"]  # a timing
  return records


def _without(tree, keys):
  """`tree` without the dict entries named in `keys` (timings, paths), at any depth."""
  if isinstance(tree, dict):
    return {k: _without(v, keys) for k, v in tree.items() if k not in keys}
  if isinstance(tree, list):
    return [_without(v, keys) for v in tree]
  return tree


@pytest.mark.slow
def test_the_commands_end_as_the_one_process_run_does(runs):
  code, _, err, _ = runs["sweep_single"]
  assert code == 1 and "1 of 2 member(s) failed" in err, err[-2000:]
  (code0, out0, err0, _), (code1, out1, err1, _) = runs["sweep_multi"]
  assert code0 == code1 == 1, (err0[-2000:], err1[-2000:])
  # An agreed outcome: both leave together, process 0 alone reports (and printed progress).
  assert "1 of 2 member(s) failed" in err0 and "member(s) failed" not in err1
  assert "stops too" not in err0 + err1
  assert f"{OK_MEMBER}: done" in out0 and "[sweep" not in out1
  for key in ("layers_single",):
    assert runs[key][0] == 0, runs[key][2][-2000:]
  assert [r[0] for r in runs["layers_multi"]] == [0, 0], [r[2][-2000:] for r in runs["layers_multi"]]


@pytest.mark.slow
def test_training_and_grid_evaluation_equal_one_process_with_two_devices(runs):
  single, multi = (os.path.join(runs[key], OK_MEMBER) for key in ("single", "multi"))
  assert _metrics(multi) == _metrics(single)
  assert len(_metrics(single)) == 3
  for key in ("final_test_accuracy", "steps", "num_devices"):
    assert _json(multi, "summary.json")[key] == _json(single, "summary.json")[key]
  assert _json(multi, "summary.json")["num_devices"] == 2
  reports = [_json(workdir, "eval", "eval.json") for workdir in (single, multi)]
  assert set(reports[0]["protocols"]) == {"circular", "embed_black"}
  ignored = {"seconds", "workdir", "files"}
  assert _without(reports[1], ignored) == _without(reports[0], ignored)
  diverged = [_json(runs[key], DIVERGED_MEMBER, "sweep_member.json") for key in ("single", "multi")]
  assert [d["state"] for d in diverged] == ["failed", "failed"]
  # Diverged on both processes at the same step: one agreed error, the same as alone.
  assert diverged[1]["error"] == diverged[0]["error"]
  assert diverged[0]["error"].startswith("TrainingDivergedError")


@pytest.mark.slow
def test_layer_analyses_equal_one_process_with_two_devices(runs):
  single, multi = (os.path.join(runs[key], OK_MEMBER, "eval", "layers")
                   for key in ("single", "multi"))
  reports = [_json(directory, "layers.json") for directory in (single, multi)]
  assert set(reports[0]["analyses"]) == {"shiftability"}
  ignored = {"seconds", "workdir", "files", "model_label"}
  assert _without(reports[1], ignored) == _without(reports[0], ignored)
  arrays = [np.load(os.path.join(directory, "shiftability_per_image.npz"))
            for directory in (single, multi)]
  assert sorted(arrays[0].files) == sorted(arrays[1].files)
  for key in arrays[0].files:
    np.testing.assert_array_equal(arrays[1][key], arrays[0][key], err_msg=key)
  assert sorted(os.listdir(multi)) == sorted(os.listdir(single))
  assert any(name.startswith("shiftability_maps_test") for name in os.listdir(multi))


@pytest.mark.slow
def test_process_1_writes_no_file(runs):
  """Process 1 ran with umask 077: a file or directory it had created would lack the
  group/other read bits. (Orbax's checkpoint files are written by every process.)"""
  written_by_others = []
  for directory, folders, files in os.walk(runs["multi"]):
    folders[:] = [f for f in folders if f != "checkpoints"]
    for name in folders + files:
      path = os.path.join(directory, name)
      if not os.stat(path).st_mode & stat.S_IROTH:
        written_by_others.append(os.path.relpath(path, runs["multi"]))
  assert not written_by_others
  leftovers = [name for _, _, files in os.walk(runs["multi"]) for name in files
               if name.endswith(".tmp") or name.endswith(".lock")]
  assert not leftovers


def _train_py(workdir, *flags):
  return ["train.py", "--config=configs/quickstart.py", f"--workdir={workdir}",
          "--config.data.source=synthetic", "--config.model.width=4", *flags]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["evaluate, process 0 fails", "train, process 1 fails"])
def test_an_error_on_one_process_stops_the_other_promptly(runs, tmp_path, command):
  """One process fails at once; the other has work to do that needs it (collectives of the
  grid evaluation or of the train steps), so only the watchdog can end it."""
  if command.startswith("evaluate"):
    failing, error = 0, "is not a training run"
    good = [f"--workdir={os.path.join(runs['multi'], OK_MEMBER)}", "--config.num_images=5"]
    pair = _start_pair(["-m", "evaluate"],
                       [[f"--workdir={tmp_path / 'missing'}"], good])
  else:
    failing, error = 1, "does not exist or is not a directory"
    pair = _start_pair(_train_py(tmp_path / "run"), [
        [], ["--config.data.source=folder", f"--config.data.dir={tmp_path / 'missing'}"]])
  results = _finish(pair)
  failed, other = results[failing], results[1 - failing]
  assert failed[0] == 1 and error in failed[2], failed[2][-2000:]
  assert other[0] == 1, other[2][-2000:]
  assert (f"error: process {failing} of 2 failed, so process {1 - failing} of 2" in other[2]
          and error in other[2]), other[2][-2000:]
  assert abs(other[3] - failed[3]) < 20  # seconds between the two exits


def test_settings_from_flags_and_environment():
  from runtime.hosts import HostSettings, HostSetupError  # pylint: disable=g-import-not-at-top
  assert not HostSettings.resolve(environ={"JAX_NUM_PROCESSES": "2"}).multihost
  explicit = HostSettings.resolve(coordinator_address="10.0.0.1:1234", environ={
      "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"})
  assert explicit == HostSettings(True, "10.0.0.1:1234", 4, 3)
  assert HostSettings.resolve(True, environ={}) == HostSettings(True)  # auto-detection
  assert HostSettings.resolve(True, num_processes=2, environ={"JAX_NUM_PROCESSES": "8"}
                              ).num_processes == 2
  for bad in (dict(num_processes=2, process_id=2), dict(num_processes=0),
              dict(coordinator_address="nohost")):
    with pytest.raises(HostSetupError):
      HostSettings.resolve(**bad, environ={})
  with pytest.raises(HostSetupError, match="JAX_PROCESS_ID"):
    HostSettings.resolve(True, environ={"JAX_PROCESS_ID": "one"})


def test_one_process_runs_the_body_and_fetches_as_numpy():
  import jax  # pylint: disable=g-import-not-at-top
  from runtime import hosts  # pylint: disable=g-import-not-at-top
  assert hosts.run_command(hosts.HostSettings(), lambda: 7) == 7
  assert hosts.broadcast_from_main("x", lambda: {"a": 1}) == {"a": 1}
  assert hosts.gather_outcomes("y", "boom") == {0: "boom"}
  fetched = hosts.fetch({"x": jax.numpy.arange(3)})
  assert isinstance(fetched["x"], np.ndarray) and fetched["x"].tolist() == [0, 1, 2]


@pytest.mark.slow
def test_multihost_without_a_cluster_says_what_to_give(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "evaluate", f"--workdir={tmp_path}", "--multihost"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT_S,
      env={k: v for k, v in {**os.environ, "JAX_PLATFORMS": "cpu"}.items()
           if not k.startswith(("SLURM_", "OMPI_", "JAX_COORDINATOR", "KUBERNETES_"))})
  assert result.returncode == 2, result.stderr[-2000:]
  assert "--coordinator_address=HOST:PORT" in result.stderr
  assert "Traceback" not in result.stderr
