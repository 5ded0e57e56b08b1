"""`evaluate_workdir(workdir, eval_config)`: every invariance protocol on a trained run.

Order of work: read config.json, complete the eval config, build the model and ALL protocols
(a bad name or option fails here), read the latest checkpoint, check that every grid fits the
memory bound; only then load the test set and evaluate each protocol with the vectorised grid
engine (evaluate.grid), one progress line per protocol, each on all the evaluated images or on
its `num_images` subset (evaluate.images.protocol_image_rows). Results go to `workdir/eval/`:
eval.json, CSVs, summary.md (see evaluate.report), per_image.npz (every metric per image and
group, see evaluate.stats.per_image) and PNGs (see evaluate.plots.evaluation).

The parts live in modules of their own: runtime.run_config (the run's config.json),
evaluate.config (the eval config and its protocols), evaluate.images (which test
images), evaluate.jagged (the jagged curves), evaluate.plots.evaluation (the PNGs).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping
from typing import Any, Optional

import jax
import numpy as np

import models
from common import tensorboard_events
from common.errors import ConfigError, UserError
from data import load_cifar10
from evaluate import metrics, plots, report
from evaluate.plots import evaluation as figures
from evaluate.stats import per_image
from evaluate.config import (build_protocols, evaluated_model_options, protocol_num_images,
                             resolve_eval_config)
from evaluate.engines import engine_of
from evaluate.images import protocol_image_rows, select_test_images
from runtime import checkpointing, numerics, run_files
from runtime.accuracy import (eval_batch_for_devices, make_correct_fn, make_predict_fn,
                              per_image_correct)
from runtime.mesh import make_data_parallel_mesh, put_replicated
from runtime.progress import format_duration, is_terminal, print_progress
from runtime.run_config import load_checkpoint_config, run_data_config

# Test images per batch when measuring accuracy on the untransformed images (rounded up to a
# multiple of the devices; rows past the last image are masked).
_CLEAN_BATCH = 500


def _clean_correct(predict, variables, images: np.ndarray, labels: np.ndarray,
                   shardings) -> np.ndarray:
  """(N,) float64 1.0 where the untransformed image is classified right, in batches of
  _CLEAN_BATCH rounded up to the devices and sharded over them (rows past N masked)."""
  batch = eval_batch_for_devices(_CLEAN_BATCH, shardings.num_devices)
  correct = make_correct_fn(predict, batch_size=batch, batch_sharding=shardings.batch,
                            replicated=shardings.replicated)
  hits = per_image_correct(correct, variables, put_replicated(images, shardings.replicated),
                           put_replicated(labels, shardings.replicated), batch)
  return np.asarray(hits, np.float64)


def _shown_metrics(entry: Mapping[str, Any]) -> str:
  """The progress line's metrics: those of the entry among accuracy, worst-case accuracy,
  P(top-1 change), MAC, stable prediction, and the max logit change."""
  shown = entry["metrics"]
  cells = [f"{title} {shown[key]['mean']:.4f}"
           for key, title in (("accuracy", "accuracy"), ("worst_case_accuracy", "worst-case"),
                              ("p_top1_change", "P(top-1 change)"), ("mac", "MAC"),
                              ("stable_prediction", "stable"))
           if (shown.get(key) or {}).get("mean") is not None]
  change = entry.get("max_logit_change")
  cells.append(f"max |logit change| {change:.2e}" if change is not None
               else "max |logit change| n/a")
  return " | ".join(cells)


@numerics.at_evaluation_precision
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
      cifar-10-batches-py) instead of where the run was trained from (run_data_config:
      $CIFAR10_DIR now, else the recorded data_location.json), e.g. on another machine.
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
  setup = _build_and_check(workdir, eval_config)
  test = _load_test_images(setup, workdir, data_dir, say)
  clean_correct = _clean_correct(setup.predict, setup.variables, test.images, test.labels,
                                 setup.shardings)
  clean_accuracy = metrics.stat(clean_correct)
  test_set_correct = _clean_correct(setup.predict, setup.variables, test.test_set_images,
                                    test.test_set_labels, setup.shardings)
  say(f"evaluating {setup.run_config.model.name} (step {setup.step}) on "
      f"{test.images.shape[0]} test images: {len(setup.built)} protocol(s); accuracy on the "
      f"untransformed images {clean_accuracy['mean']:.4f}")

  eval_dir = out_dir or os.path.join(workdir, run_files.EVAL_SUBDIR)
  if is_main:
    os.makedirs(eval_dir, exist_ok=True)
  entries, pictures, per_image_values = {}, [], {}
  draw = plots.available()
  if not draw:
    say("note: matplotlib is not installed: no plots (eval.json, the CSVs and summary.md are "
        "complete)")
  for index, name in enumerate(setup.built, 1):
    entry, values, result = _evaluate_protocol(setup, test, name,
                                               progress=verbose and is_main and is_terminal())
    rows = test.subsets[name]
    per_image_values[name] = per_image.ProtocolValues(
        type=entry["type"], options=entry["options"], sampled=entry["sampled"],
        per_image=values, rows=rows)
    entries[name] = entry
    say(_protocol_line(index, len(setup.built), name, entry, len(rows)))
    if is_main and draw:
      protocol = setup.built[name]
      pictures += engine_of(protocol).figures(
          eval_dir, name, entry, result, protocol, test.images[rows], test.image_indices[rows],
          test.class_names, setup.eval_config)
    del result

  eval_report = _eval_report(workdir, setup, test, clean_accuracy, entries,
                             seconds=time.perf_counter() - start)
  if is_main:
    _write_outputs(eval_dir, eval_report, test, clean_correct, test_set_correct,
                   per_image_values, pictures, draw, say)
  return eval_report


@dataclasses.dataclass(frozen=True)
class _Setup:
  """What the run and the eval config build, checked before the test set is loaded.

  Attributes:
    run_config: the run's config (config.json).
    eval_config: the complete eval config.
    built: protocol name -> its built protocol, in the config's order.
    predict: (variables, images) -> logits of the evaluated model.
    shardings: the data-parallel mesh.
    variables: the checkpoint's model variables, replicated on every device.
    step: the checkpoint's step.
  """
  run_config: Any
  eval_config: Any
  built: dict[str, Any]
  predict: Any
  shardings: Any
  variables: Any
  step: int


def _build_and_check(workdir: str, eval_config: Optional[Mapping[str, Any]]) -> _Setup:
  """Builds the model and ALL protocols, restores the latest checkpoint and checks that every
  protocol's grid fits the memory bound (a bad name, option or bound fails here)."""
  run_config = load_checkpoint_config(workdir)
  eval_config = resolve_eval_config(run_config, eval_config)
  model = models.build_model(**evaluated_model_options(run_config.model, eval_config))
  built = build_protocols(eval_config.protocols)
  predict = make_predict_fn(model)
  shardings = make_data_parallel_mesh()
  # Restored onto this mesh, whatever mesh the run was trained on.
  restored = checkpointing.restore_model_variables(workdir, model, shardings.replicated)
  variables, step = restored.state, restored.step
  for name, protocol in built.items():
    try:
      engine_of(protocol).check_fits(protocol, predict, variables,
                                     int(eval_config.max_chunk_bytes))
    except UserError as error:  # (an error of the model's own code keeps its traceback)
      raise ConfigError(f"config.eval.protocols.{name}: {error}") from error
  return _Setup(run_config, eval_config, built, predict, shardings, variables, step)


@dataclasses.dataclass(frozen=True)
class _TestImages:
  """The evaluated test images.

  Attributes:
    images: uint8 [N, 32, 32, 3], the selected test images.
    labels: int32 [N].
    image_indices: [N] their indices in the test set.
    subsets: protocol name -> the rows of `images` it runs on (all, or its num_images subset).
    class_names: the dataset's class names.
    test_set_images: uint8 [T, 32, 32, 3], the whole test set (T = 10,000 for CIFAR-10).
    test_set_labels: int32 [T].
  """
  images: np.ndarray
  labels: np.ndarray
  image_indices: np.ndarray
  subsets: dict[str, np.ndarray]
  class_names: Any
  test_set_images: np.ndarray
  test_set_labels: np.ndarray


def _load_test_images(setup: _Setup, workdir: str, data_dir: Optional[str], say) -> _TestImages:
  """Loads the test set (from `data_dir`, else where the run in `workdir` was trained from:
  run_data_config) and selects the evaluated images and each protocol's rows."""
  eval_config = setup.eval_config
  data = load_cifar10(run_data_config(setup.run_config, data_dir, workdir))
  image_indices = select_test_images(data.test_images.shape[0], int(eval_config.num_images),
                                     eval_config.image_selection, int(eval_config.seed))
  images = data.test_images[image_indices]
  labels = data.test_labels[image_indices].astype(np.int32)
  if 0 < eval_config.num_images != images.shape[0]:
    say(f"note: the test set has {images.shape[0]} images; evaluating all of them instead of "
        f"config.eval.num_images={eval_config.num_images}")
  # Per protocol, the rows of `images` it runs on (all, or its num_images subset).
  subsets = {name: protocol_image_rows(image_indices, protocol_num_images(
      eval_config.protocols[name], int(eval_config.num_images), name=name),
      int(eval_config.seed)) for name in setup.built}
  return _TestImages(images, labels, image_indices, subsets, data.class_names,
                     data.test_images, data.test_labels.astype(np.int32))


def _evaluate_protocol(setup: _Setup, test: _TestImages, name: str, progress: bool):
  """Runs protocol `name` on its rows with its engine.

  Returns:
    (entry, values, result): its report entry (with its images and "seconds", the wall time),
    its per-image values and the engine's raw result (for the figures).
  """
  eval_config, protocol = setup.eval_config, setup.built[name]
  protocol_start = time.perf_counter()
  rows = test.subsets[name]
  engine = engine_of(protocol)
  result = engine.run(
      setup.predict, setup.variables, test.images[rows], test.labels[rows], protocol,
      shardings=setup.shardings, images_per_chunk=int(eval_config.images_per_chunk),
      max_chunk_bytes=int(eval_config.max_chunk_bytes), seed=int(eval_config.seed),
      progress=progress)
  seconds = time.perf_counter() - protocol_start
  values = engine.values(result, seed=int(eval_config.seed))
  entry = engine.entry(result, protocol_type=eval_config.protocols[name].type,
                       seconds=seconds, seed=int(eval_config.seed), values=values)
  entry.update(report.images_entry(test.image_indices, rows))
  return entry, values, result


def _protocol_line(index: int, count: int, name: str, entry: Mapping[str, Any],
                   num_images: int) -> str:
  """The progress line of the `index`-th of `count` protocols, evaluated on `num_images`."""
  seconds = entry["seconds"]
  return (f"[{index}/{count}] {name} ({entry['type']}): {num_images} images x "
          f"{entry['num_grid_points']} {'visited' if entry.get('kind') == 'attack' else 'grid'} "
          f"points in {format_duration(seconds)} ({seconds:.1f}s) | {_shown_metrics(entry)}"
          + (" (sampled)" if entry["sampled"] else ""))


def _eval_report(workdir: str, setup: _Setup, test: _TestImages, clean_accuracy: dict,
                 entries: dict[str, Any], seconds: float) -> dict[str, Any]:
  """The report (evaluate.report), `seconds` the wall time of the whole evaluation."""
  eval_config = setup.eval_config
  return {
      "workdir": os.path.abspath(workdir),
      "checkpoint_step": int(setup.step),
      "model": setup.run_config.model.to_dict(),
      "num_images": int(test.images.shape[0]),
      "image_selection": eval_config.image_selection,
      "seed": int(eval_config.seed),
      "image_indices": [int(i) for i in test.image_indices],
      "clean_accuracy": report.json_metric(clean_accuracy),
      "eval_config": json.loads(eval_config.to_json()),
      "matmul_precision": numerics.matmul_precision(),
      "seconds": seconds,
      "protocols": entries,
  }


def _write_outputs(eval_dir: str, eval_report: dict[str, Any], test: _TestImages,
                   clean_correct: np.ndarray, test_set_correct: np.ndarray,
                   per_image_values: dict, pictures: list[str],
                   draw: bool, say) -> None:
  """Writes the reports, per_image.npz, the TensorBoard events and the figures into
  `eval_dir`; records their paths as eval_report["files"] and prints the summary."""
  files = report.write_reports(eval_dir, eval_report)
  files["per_image"] = per_image.save(
      os.path.join(eval_dir, per_image.PER_IMAGE_FILE), image_indices=test.image_indices,
      labels=test.labels, clean_correct=clean_correct, protocols=per_image_values,
      test_set_correct=test_set_correct)
  tensorboard_events.write_eval_events(eval_dir, eval_report)
  files["png"] = pictures + (figures.plot_report(eval_dir, eval_report) if draw else [])
  eval_report["files"] = files
  say(report.markdown_summary(eval_report))
  say(f"evaluation done in {format_duration(eval_report['seconds'])}; results in {eval_dir}")
