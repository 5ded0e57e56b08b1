"""`evaluate_workdir(workdir, eval_config)`: every invariance protocol on a trained run.

Order of work: read config.json, complete the eval config, build the model and ALL protocols
(a bad name or option fails here), read the latest checkpoint, check that every grid fits the
memory bound; only then load the test set and evaluate each protocol with the vectorised grid
engine (evaluate.grid), one progress line per protocol. Results go to `workdir/eval/`:
eval.json, CSVs, summary.md (see evaluate.report) and PNGs (see evaluate.plots).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import jax
import ml_collections
import numpy as np

import models
from data import load_cifar10
from evaluate import grid as grid_engine
from evaluate import metrics, plots, protocols, report
from evaluate.accuracy import (eval_batch_for_devices, make_correct_fn, make_predict_fn,
                               per_image_correct)
from evaluate.config import complete_eval_config
from common import tensorboard_events
from training import checkpointing, run_files
from training.mesh import make_data_parallel_mesh, put_replicated
from training.state import model_variables
from training.progress import format_duration, is_terminal, print_progress

EVAL_SUBDIR = "eval"
# Test images per batch when measuring accuracy on the untransformed images (rounded up to a
# multiple of the devices; rows past the last image are masked).
_CLEAN_BATCH = 500
# Protocols whose jagged path is the row dy = 0 (the image rolled only horizontally).
_PATH_ALONG_DY_ZERO = ("circular_shift", "fractional_shift")


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's resolved config from `workdir/config.json`.

  Raises:
    FileNotFoundError if the workdir (or its config.json) does not exist.
  """
  path = os.path.join(workdir, run_files.CONFIG_FILE)
  if not os.path.exists(path):
    what = "directory" if not os.path.isdir(workdir) else run_files.CONFIG_FILE
    raise FileNotFoundError(f"{workdir!r} is not a training run: no {what} ({path}). Pass the "
                            "--workdir that train.py wrote.")
  with open(path) as f:
    saved = json.load(f)
  if "model" in saved:  # a run saved before an option existed gets the behaviour it had
    saved["model"] = models.complete_saved_options(saved["model"])
  return ml_collections.ConfigDict(saved)


def resolve_eval_config(run_config: ml_collections.ConfigDict,
                        eval_config: Optional[Mapping[str, Any]] = None
                        ) -> ml_collections.ConfigDict:
  """`eval_config` if given, else the run's `config.eval`, else the defaults; completed.

  `eval_config` may also be a whole run config (one with an `eval` section), e.g. from
  configs/default.py.
  """
  if eval_config is not None and "eval" in eval_config and "protocols" not in eval_config:
    eval_config = eval_config["eval"]
  if eval_config is None and "eval" in run_config:
    eval_config = run_config.eval
  return complete_eval_config(eval_config)


def build_protocols(protocol_configs: Mapping[str, Any]) -> dict[str, Any]:
  """Builds every protocol of `config.eval.protocols` (name -> dict(type=..., **options)).

  Raises:
    UnknownNameError (a ValueError listing the valid names) for an unknown type, or a
    ValueError naming the protocol and the bad option.
  """
  built = {}
  for name, entry in protocol_configs.items():
    entry = entry.to_dict() if isinstance(entry, ml_collections.ConfigDict) else dict(entry)
    try:
      built[name] = protocols.build_protocol_from_config(entry)
    except (TypeError, ValueError) as error:
      raise type(error)(f"config.eval.protocols.{name}: {error}") from error
  return built


def check_eval_config(eval_config: Optional[Mapping[str, Any]]) -> ml_collections.ConfigDict:
  """Completes `eval_config` and builds every protocol, raising what evaluate_workdir would.

  For train.py to call before training when config.eval.run_after_training is set, so that
  a typo in the evaluation settings fails before hours of training, not after.
  Returns:
    The completed eval config.
  """
  completed = complete_eval_config(eval_config)
  build_protocols(completed.protocols)
  return completed


def select_test_images(num_available: int, num_images: int, selection: str,
                       seed: int) -> np.ndarray:
  """Indices (sorted, int64 (N,)) of the evaluated test images.

  Args:
    num_available: test-set size.
    num_images: how many; 0 or more than available = all of them.
    selection: 'first' (the first N) or 'random' (N without replacement, drawn with `seed`).
    seed: seeds the 'random' draw.
  """
  if num_images <= 0 or num_images >= num_available:
    return np.arange(num_available)
  if selection == "first":
    return np.arange(num_images)
  rng = np.random.default_rng(seed)
  return np.sort(rng.choice(num_available, size=num_images, replace=False))


def _clean_accuracy(predict, variables, images: np.ndarray, labels: np.ndarray,
                    shardings) -> dict:
  """Accuracy on the untransformed images ({"mean", "stderr"} over images), in batches of
  _CLEAN_BATCH rounded up to the devices and sharded over them (rows past N masked)."""
  batch = eval_batch_for_devices(_CLEAN_BATCH, shardings.num_devices)
  correct = make_correct_fn(predict, batch_size=batch, batch_sharding=shardings.batch,
                            replicated=shardings.replicated)
  hits = per_image_correct(correct, variables, put_replicated(images, shardings.replicated),
                           put_replicated(labels, shardings.replicated), batch)
  return metrics.stat(hits.astype(np.float64))


def jagged_path(grid: Mapping[str, np.ndarray], pairs: np.ndarray,
                protocol_type: str) -> tuple[np.ndarray, np.ndarray, str, str]:
  """The grid points of a one-dimensional path for the "jagged" curves.

  embed_scale: the first point of every pair (size s, x = s). Otherwise a horizontal line:
  the smallest embedding size (the longest line) if there are sizes, the middle row of dy
  (dy = 0 for _PATH_ALONG_DY_ZERO: unrolled rows), sorted by dx; a grid with fewer than 3
  points on that row uses all its points sorted by dx.

  Returns:
    (indices (K,) into the grid, x (K,) the x-axis values, the x-axis label, its symbol).
  """
  grid = {key: np.asarray(values) for key, values in grid.items()}
  if protocol_type == "embed_scale":
    first = pairs[:, 0]
    return first, grid["size"][first], "embedding size s (pixels)", "s"
  candidates = np.arange(grid["dx"].shape[0])
  label = "dx: horizontal shift (pixels)"
  if "size" in grid:
    size = grid["size"].min()
    candidates = candidates[grid["size"] == size]
    label += f", size {size}"
  rows = grid["dy"][candidates]
  row = (0 if protocol_type in _PATH_ALONG_DY_ZERO and np.any(rows == 0)
         else np.unique(rows)[len(np.unique(rows)) // 2])
  on_row = candidates[rows == row]
  if on_row.shape[0] >= 3:
    candidates = on_row
    label += f", dy = {row}"
  else:
    label = label.replace("horizontal", "diagonal")
  order = np.lexsort((grid["dy"][candidates], grid["dx"][candidates]))
  indices = candidates[order]
  return indices, grid["dx"][indices], label, "dx"


def jagged_curves(result, protocol, protocol_type: str, images: np.ndarray,
                  image_indices: np.ndarray, class_names: Sequence[str],
                  count: int) -> tuple[list[dict], str, str]:
  """Data for plots.plot_jagged_curves: the `count` images whose correct-class probability
  varies most along the jagged path, with the transformed images at its max and min."""
  path, x, x_label, x_symbol = jagged_path(result.grid, np.asarray(result.pairs),
                                           protocol_type)
  labels = np.asarray(result.labels)
  correct = np.take_along_axis(np.asarray(result.probs)[:, path, :],
                               labels[:, None, None], axis=2)[..., 0]  # (N, K)
  swing = correct.max(axis=1) - correct.min(axis=1)
  curves = []
  for row in np.argsort(-swing, kind="stable")[:count]:
    frames = []
    for position in (int(np.argmax(correct[row])), int(np.argmin(correct[row]))):
      point = {key: np.asarray(values)[path[position]] for key, values in result.grid.items()}
      frame = protocol.transform(images[row].astype(np.float32), point)
      frames.append((float(x[position]),
                     np.clip(np.round(np.asarray(frame)), 0, 255).astype(np.uint8)))
    curves.append({
        "name": f"test image {int(image_indices[row])}, true class: "
                f"{class_names[labels[row]]}",
        "x": x, "prob": correct[row], "frames": frames})
  return curves, x_label, x_symbol


def _is_position_grid(grid: Mapping[str, np.ndarray]) -> bool:
  """Whether the grid holds, per size (if any), a 2-D set of positions: one worth a heat map
  (not embed_scale, whose positions only follow the size)."""
  sizes = grid["size"] if "size" in grid else np.zeros_like(grid["dx"])
  return all(len(np.unique(grid["dx"][sizes == s])) > 1 and
             len(np.unique(grid["dy"][sizes == s])) > 1 for s in np.unique(sizes))


def _plot_protocol(eval_dir: str, name: str, entry: Mapping[str, Any], result, protocol,
                   images: np.ndarray, image_indices: np.ndarray, class_names: Sequence[str],
                   eval_config: ml_collections.ConfigDict) -> list[str]:
  """The PNGs of one protocol: heat maps over (dx, dy) and jagged curves (full grids only)."""
  paths = []
  per_point = entry.get("per_grid_point")
  if not per_point:
    return paths
  grid = {key: np.asarray(values) for key, values in per_point["grid"].items()}
  if _is_position_grid(grid):
    sizes = (plots.spread_sizes(grid["size"], eval_config.max_heatmap_sizes)
             if "size" in grid else None)
    if sizes is None or sizes:
      paths.append(plots.plot_shift_heatmaps(
          grid, plots.as_floats(per_point["accuracy"]),
          plots.as_floats(per_point["p_top1_change"]),
          os.path.join(eval_dir, f"{name}_heatmap.png"), sizes=sizes,
          title=f"{name} ({entry['type']}): accuracy, and P(top-1 change) of the "
                f"{entry['options'].get('step', 'one')}-pixel "
                f"{entry['options'].get('direction', '')} move from each grid point"))
  if eval_config.num_jagged_images > 0:
    curves, x_label, x_symbol = jagged_curves(result, protocol, entry["type"], images,
                                              image_indices, class_names,
                                              eval_config.num_jagged_images)
    if curves and len(curves[0]["x"]) >= 2:
      paths.append(plots.plot_jagged_curves(
          curves, os.path.join(eval_dir, f"{name}_jagged.png"), x_label=x_label,
          x_symbol=x_symbol,
          title=f"{name} ({entry['type']}): probability of the correct class along a path"))
  return paths


def plot_report(eval_dir: str, eval_report: Mapping[str, Any]) -> list[str]:
  """The PNGs computed from the report alone: sensitivity vs size, metrics per protocol."""
  paths = []
  label = eval_report["model"].get("name", "model")
  sweeps = [dict(label=name, **entry["by_group"])
            for name, entry in eval_report["protocols"].items() if entry.get("by_group")]
  if sweeps:
    paths.append(plots.plot_sensitivity_vs_size(
        sweeps, os.path.join(eval_dir, "sensitivity_vs_size.png"),
        title=f"{label}: sensitivity to one-pixel moves versus embedding size "
              f"({eval_report['num_images']} images, ± standard error)"))
  paths.append(plots.plot_protocol_bars(
      [dict(label=label, metrics={name: entry["metrics"]
                                  for name, entry in eval_report["protocols"].items()})],
      os.path.join(eval_dir, "metrics_per_protocol.png"),
      clean_accuracy={label: eval_report["clean_accuracy"]["mean"]},
      title=f"{label}: metrics per protocol ({eval_report['num_images']} images, "
            "± standard error)"))
  return paths


def evaluate_workdir(workdir: str, eval_config: Optional[Mapping[str, Any]] = None, *,
                     data_dir: Optional[str] = None, out_dir: Optional[str] = None,
                     verbose: bool = True) -> dict[str, Any]:
  """Evaluates the latest checkpoint of `workdir` under every configured protocol.

  Args:
    workdir: a training run's directory (config.json + checkpoints/).
    eval_config: the evaluation settings (evaluate.config; fields missing take their
      defaults), or a whole run config with an `eval` section; None = the run's
      config.eval, else default_eval_config().
    data_dir: evaluate on the CIFAR-10 copy in this directory (image folder tree or
      cifar-10-batches-py) instead of the run's data settings, e.g. on another machine.
    out_dir: where the reports go; default `workdir/eval`.
    verbose: print one progress line per protocol and the Markdown summary.
  Returns:
    The report (evaluate.report module docstring), also written as eval.json, with
    "files": the paths of everything written.
  Raises:
    FileNotFoundError: no config.json or no checkpoint in `workdir`.
    ValueError (incl. UnknownNameError): a bad eval config, protocol name or option, or a
      max_chunk_bytes too small for one model input per device; all raised before the test
      set is loaded.
  """
  start = time.perf_counter()
  is_main = jax.process_index() == 0
  say = lambda line: print_progress(line, verbose and is_main)  # noqa: E731
  run_config = load_run_config(workdir)
  eval_config = resolve_eval_config(run_config, eval_config)
  model = models.build_model(**run_config.model)
  built = build_protocols(eval_config.protocols)
  tree, step = checkpointing.load_latest(workdir)
  predict = make_predict_fn(model)
  shardings = make_data_parallel_mesh()
  variables = jax.device_put(model_variables(tree["params"], tree.get("batch_stats")),
                             shardings.replicated)
  for name, protocol in built.items():
    try:
      grid_engine.check_fits(protocol, predict, variables, int(eval_config.max_chunk_bytes))
    except ValueError as error:
      raise ValueError(f"config.eval.protocols.{name}: {error}") from error

  data_config = run_config.data
  if data_dir:
    data_config = ml_collections.ConfigDict(data_config.to_dict())
    data_config.source, data_config.dir = "auto", os.fspath(data_dir)
  data = load_cifar10(data_config)
  image_indices = select_test_images(data.test_images.shape[0], int(eval_config.num_images),
                                     eval_config.image_selection, int(eval_config.seed))
  images = data.test_images[image_indices]
  labels = data.test_labels[image_indices].astype(np.int32)
  if 0 < eval_config.num_images != images.shape[0]:
    say(f"note: the test set has {images.shape[0]} images; evaluating all of them instead of "
        f"config.eval.num_images={eval_config.num_images}")
  clean_accuracy = _clean_accuracy(predict, variables, images, labels, shardings)
  say(f"evaluating {run_config.model.name} (step {step}) on {images.shape[0]} test images: "
      f"{len(built)} protocol(s); accuracy on the untransformed images "
      f"{clean_accuracy['mean']:.4f}")

  eval_dir = out_dir or os.path.join(workdir, EVAL_SUBDIR)
  if is_main:
    os.makedirs(eval_dir, exist_ok=True)
  entries, pictures = {}, []
  for index, (name, protocol) in enumerate(built.items(), 1):
    protocol_start = time.perf_counter()
    result = grid_engine.evaluate_grid(
        predict, variables, images, labels, protocol, shardings=shardings,
        images_per_chunk=int(eval_config.images_per_chunk),
        max_chunk_bytes=int(eval_config.max_chunk_bytes), seed=int(eval_config.seed),
        progress=verbose and is_main and is_terminal())
    seconds = time.perf_counter() - protocol_start
    entry = report.protocol_entry(result, protocol_type=eval_config.protocols[name].type,
                                  seconds=seconds, seed=int(eval_config.seed))
    entries[name] = entry
    shown = entry["metrics"]
    say(f"[{index}/{len(built)}] {name} ({entry['type']}): {images.shape[0]} images x "
        f"{entry['num_grid_points']} grid points in {format_duration(seconds)} "
        f"({seconds:.1f}s) | accuracy {shown['accuracy']['mean']:.4f} | worst-case "
        f"{shown['worst_case_accuracy']['mean']:.4f} | P(top-1 change) "
        f"{shown['p_top1_change']['mean']:.4f} | MAC {shown['mac']['mean']:.4f} | max "
        f"|logit change| {entry['max_logit_change']:.2e}"
        + (" (sampled)" if entry["sampled"] else ""))
    if is_main:
      pictures += _plot_protocol(eval_dir, name, entry, result, protocol, images,
                                 image_indices, data.class_names, eval_config)
    del result

  eval_report = {
      "workdir": os.path.abspath(workdir),
      "checkpoint_step": int(step),
      "model": run_config.model.to_dict(),
      "num_images": int(images.shape[0]),
      "image_selection": eval_config.image_selection,
      "seed": int(eval_config.seed),
      "image_indices": [int(i) for i in image_indices],
      "clean_accuracy": report.json_metric(clean_accuracy),
      "eval_config": json.loads(eval_config.to_json()),
      "seconds": time.perf_counter() - start,
      "protocols": entries,
  }
  if is_main:
    files = report.write_reports(eval_dir, eval_report)
    tensorboard_events.write_eval_events(eval_dir, eval_report)
    files["png"] = pictures + plot_report(eval_dir, eval_report)
    eval_report["files"] = files
    say(report.markdown_summary(eval_report))
    say(f"evaluation done in {format_duration(eval_report['seconds'])}; results in {eval_dir}")
  return eval_report
