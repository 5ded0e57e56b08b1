"""`analyse_workdir(workdir, config)`: the configured layer analyses on a trained run.

Order of work: read config.json, check the analysis names and sections, build the model, read
the latest checkpoint; only then load the data and run each analysis (progress lines on the
way). Results in `workdir/eval/layers/`: layers.json (every analysis' entry, with the files it
wrote) and the PNGs and .npz files of each analysis. In a multi-host run every process takes
part in every computation and process 0 alone writes (LayerContext.output), each file atomically.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections.abc import Mapping
from typing import Any, Callable, Optional

import ml_collections
import numpy as np

from common.errors import ConfigError
import models
from data import load_cifar10
from common.atomic_files import atomic_write, atomic_write_text
from data.arrays import CifarArrays
from evaluate.images import select_test_images
from evaluate.layers import capture
from evaluate.layers.config import default_layers_config
from evaluate.layers.registry import ANALYSES
from runtime import checkpointing, hosts, numerics
from runtime.mesh import MeshShardings, make_data_parallel_mesh
from runtime.progress import format_duration, print_progress
from runtime.run_config import load_checkpoint_config, run_data_config

LAYERS_SUBDIR = os.path.join("eval", "layers")
REPORT_FILE = "layers.json"


@dataclasses.dataclass
class LayerContext:
  """What every analysis gets.

  Attributes:
    model, variables: the trained Flax model and its variables (replicated over the mesh).
    model_label: names the model in titles (its workdir's base name and model name).
    config: the whole layers config (evaluate/layers/config.py).
    images: (N, 32, 32, 3) uint8 selected test images; labels (N,) int32; image_indices (N,)
      their indices in the test set.
    data: the whole dataset (training images for readouts and neighbours).
    shardings: the mesh.
    out_dir: where files go (written by process 0 only: use `output` / `save_arrays`).
    say: progress printer.
    command: the command that produced the figures (written into their titles).
    writes_files: whether this process writes the files (process 0 of a multi-host run).
  """
  model: Any
  variables: Any
  model_label: str
  config: ml_collections.ConfigDict
  images: np.ndarray
  labels: np.ndarray
  image_indices: np.ndarray
  data: CifarArrays
  shardings: MeshShardings
  out_dir: str
  say: Callable[[str], None]
  command: str
  writes_files: bool = True

  def output(self, name: str, write: Callable[[str], Any]) -> str:
    """The path of file `name` in out_dir, written by `write(path)` (atomically, e.g.
    plots.save) on the writing process only. Work every process must do (anything on the
    device) belongs before this call, not in `write`."""
    path = os.path.join(self.out_dir, name)
    if self.writes_files:
      write(path)
    return path

  def save_arrays(self, name: str, **arrays: np.ndarray) -> str:
    """Writes `arrays` as the .npz file `name` in out_dir (atomically, writing process only)."""
    def write(path):
      with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)
    return self.output(name, write)

  @functools.cached_property
  def layer_shapes(self) -> dict[str, tuple[int, ...]]:
    """name -> per-image shape of every analysed layer (config.layer_pattern)."""
    return capture.layer_shapes(self.model, self.variables, self.config.layer_pattern)


def analysis_names(config: ml_collections.ConfigDict) -> list[str]:
  """The analyses of config.analyses, checked (UnknownNameError lists the valid ones)."""
  names = [name.strip() for name in str(config.analyses).split(",") if name.strip()]
  if not names:
    raise ConfigError(f"config.analyses names no analysis; choose from "
                      f"{', '.join(ANALYSES.names())}")
  for name in names:
    ANALYSES.get(name)
  return names


def check_layers_config(config: ml_collections.ConfigDict) -> list[str]:
  """Validates the shared fields; returns the analysis names."""
  names = analysis_names(config)
  for field in ("num_images", "images_per_chunk"):
    if int(config[field]) < 0:
      raise ConfigError(f"config.{field} must be >= 0, got {config[field]}")
  if int(config.images_per_chunk) == 0:
    raise ConfigError("config.images_per_chunk must be >= 1")
  if config.image_selection not in ("first", "random"):
    raise ConfigError(f"config.image_selection must be 'first' or 'random', got "
                      f"{config.image_selection!r}")
  return names


def _finite_or_none(value):
  """The report with every NaN / inf float replaced by None (strict JSON)."""
  if isinstance(value, dict):
    return {key: _finite_or_none(item) for key, item in value.items()}
  if isinstance(value, (list, tuple)):
    return [_finite_or_none(item) for item in value]
  if isinstance(value, (float, np.floating)) and not np.isfinite(value):
    return None
  return value


def _json_default(value):
  if isinstance(value, (np.floating, np.integer)):
    return value.item()
  if isinstance(value, np.ndarray):
    return value.tolist()
  raise TypeError(f"not JSON-able: {type(value)}")


def _earlier_analyses(path: str, step: int, image_indices: list[int]) -> dict[str, Any]:
  """The analyses of an existing layers.json of the same checkpoint and test images (kept, so
  that analyses can be run one at a time); {} otherwise."""
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      earlier = json.load(f)
  except (OSError, ValueError):
    return {}
  if earlier.get("checkpoint_step") != step or earlier.get("image_indices") != image_indices:
    return {}
  return earlier.get("analyses", {})


@numerics.at_evaluation_precision
def analyse_workdir(workdir: str, config: Optional[Mapping[str, Any]] = None, *,
                    data_dir: Optional[str] = None, out_dir: Optional[str] = None,
                    verbose: bool = True, data: Optional[CifarArrays] = None) -> dict[str, Any]:
  """Runs config.analyses on the latest checkpoint of `workdir`.

  Args:
    workdir: a training run (config.json + checkpoints/).
    config: the layers config (default: default_layers_config()).
    data_dir: read CIFAR-10 from this directory instead of where the run was trained from
      (run_data_config).
    out_dir: default workdir/eval/layers.
    verbose: progress lines.
    data: an already loaded dataset (tests), instead of loading the run's.
  Returns:
    The report written to layers.json: {"workdir", "checkpoint_step", "model", "num_images",
    "image_indices", "config", "seconds", "analyses": {name: entry}}. Entries of analyses
    not run now are kept from an earlier layers.json of the same checkpoint and test images.
  Raises:
    FileNotFoundError (no run or checkpoint), ValueError / UnknownNameError (bad config), all
    before the data are loaded.
  """
  start = time.perf_counter()
  config = config if config is not None else default_layers_config()
  names = check_layers_config(config)
  say = lambda line: print_progress(line, verbose and hosts.is_main_process())  # noqa: E731
  run_config, model, shardings, restored = _restore_checked(workdir, config, names)
  if data is None:
    data = load_cifar10(run_data_config(run_config, data_dir, workdir))
  context = _layer_context(workdir, config, run_config, model, shardings, restored, data,
                           out_dir or os.path.join(workdir, LAYERS_SUBDIR), say)
  indices = context.image_indices
  if 0 < int(config.num_images) != len(indices):
    say(f"note: the test set has {len(indices)} images; analysing all of them instead of "
        f"config.num_images={config.num_images}")
  say(f"layer analyses of {context.model_label} (step {restored.step}) on {len(indices)} test "
      f"images: {', '.join(names)}; {len(context.layer_shapes)} layers")
  entries = _run_analyses(context, config, names, say)
  report_path = os.path.join(context.out_dir, REPORT_FILE)
  earlier = _earlier_analyses(report_path, int(restored.step), [int(i) for i in indices])
  report = {"workdir": os.path.abspath(workdir), "checkpoint_step": int(restored.step),
            "model": run_config.model.to_dict(), "model_label": context.model_label,
            "num_images": int(len(indices)), "image_indices": [int(i) for i in indices],
            "config": json.loads(config.to_json()), "seconds": time.perf_counter() - start,
            "matmul_precision": numerics.matmul_precision(),
            "analyses": {**earlier, **entries}}
  if context.writes_files:
    atomic_write_text(report_path, json.dumps(_finite_or_none(report), indent=1,
                                              default=_json_default, allow_nan=False))
  say(f"layer analyses done in {format_duration(report['seconds'])}; results in "
      f"{context.out_dir}")
  return report


def _restore_checked(workdir: str, config: ml_collections.ConfigDict, names: list[str]):
  """Builds the run's model, restores its latest checkpoint onto this mesh (whatever mesh
  trained it) and checks each analysis' section against the model's layers.

  Returns:
    (run_config, model, shardings, restored): restored.state the variables (replicated),
    restored.step the checkpoint's step.
  """
  run_config = load_checkpoint_config(workdir)
  model = models.build_model(**run_config.model)
  shardings = make_data_parallel_mesh()
  restored = checkpointing.restore_model_variables(workdir, model, shardings.replicated)
  layer_names = list(capture.layer_shapes(model, restored.state, config.layer_pattern))
  for name in names:
    try:
      ANALYSES.get(name).check(config[name], layer_names)
    except (TypeError, ValueError) as error:
      raise type(error)(f"config.{name}: {error}") from error
  return run_config, model, shardings, restored


def _layer_context(workdir: str, config: ml_collections.ConfigDict, run_config, model,
                   shardings: MeshShardings, restored, data: CifarArrays, out_dir: str,
                   say: Callable[[str], None]) -> LayerContext:
  """The context of the analyses: the selected test images, and `out_dir` (created by the
  process that writes the files)."""
  indices = select_test_images(data.test_images.shape[0], int(config.num_images),
                               config.image_selection, int(config.seed))
  writes_files = hosts.is_main_process()
  if writes_files:
    os.makedirs(out_dir, exist_ok=True)
  label = f"{os.path.basename(os.path.normpath(workdir))} ({run_config.model.name})"
  return LayerContext(
      model=model, variables=restored.state, model_label=label, config=config,
      images=data.test_images[indices], labels=data.test_labels[indices].astype(np.int32),
      image_indices=indices, data=data, shardings=shardings, out_dir=out_dir, say=say,
      command=f"python -m evaluate.layers --workdir {workdir}", writes_files=writes_files)


def _run_analyses(context: LayerContext, config: ml_collections.ConfigDict, names: list[str],
                  say: Callable[[str], None]) -> dict[str, Any]:
  """Runs each named analysis in turn; returns name -> its entry, with "seconds" (wall time)."""
  entries = {}
  for number, name in enumerate(names, 1):
    began = time.perf_counter()
    say(f"[{number}/{len(names)}] {name}")
    entry = ANALYSES.get(name).run(context, config[name])
    entry["seconds"] = time.perf_counter() - began
    entries[name] = entry
    say(f"[{number}/{len(names)}] {name} done in {format_duration(entry['seconds'])}; files: "
        f"{', '.join(os.path.basename(f) for f in entry.get('files', []))}")
  return entries
