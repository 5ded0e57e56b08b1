"""ENGINES: how each kind of protocol is evaluated, looked up by the protocol's `kind`.

  'grid'    evaluate.protocols.Protocol (crop_shift, embed_*, circular_shift,
            fractional_shift): the grid engine (evaluate.grid) reducing every chunk of
            images as it arrives (evaluate.grid_summary), its report entry
            (evaluate.report.protocol_entry) and its figures (evaluate.plots.evaluation).
  'attack'  evaluate.protocols.ShiftAttack (shift_attack): evaluate.attack.

An Engine has:
  check_fits(protocol, predict, variables, max_chunk_bytes): ValueError if the memory bound
    cannot hold one model input per device (raised before any data are loaded).
  run(predict, variables, images, labels, protocol, *, shardings, images_per_chunk,
      max_chunk_bytes, seed, progress) -> result.
  values(result, *, seed) -> evaluate.stats.per_image.PerImage: every metric per image (and
    group), what the per-image file holds and every summary is formed from.
  entry(result, *, protocol_type, seconds, seed, values) -> the JSON-able report entry.
  figures(eval_dir, name, entry, result, protocol, images, image_indices, class_names,
          eval_config) -> paths of the PNGs written.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from common.registry import Registry
from evaluate import attack, grid, grid_summary, report
from evaluate.plots import evaluation
from evaluate.stats import per_image


@dataclasses.dataclass(frozen=True)
class Engine:
  check_fits: Callable[..., Any]
  run: Callable[..., Any]
  values: Callable[..., per_image.PerImage]
  entry: Callable[..., dict[str, Any]]
  figures: Callable[..., list[str]]


ENGINES: Registry[Engine] = Registry("evaluation engine")
# The grid engine reduces each chunk of images as it arrives (evaluate.grid_summary): its
# result is a SummarizedGrid, never the (images x grid points x classes) probabilities.
ENGINES.register("grid")(Engine(
    check_fits=grid.check_fits, run=grid_summary.evaluate_summarized,
    values=lambda summarized, *, seed: summarized.summary.per_image,
    entry=lambda summarized, *, protocol_type, seconds, seed, values: report.protocol_entry(
        summarized.result, protocol_type=protocol_type, seconds=seconds, seed=seed,
        summary=summarized.summary),
    figures=lambda eval_dir, name, entry, summarized, *args: evaluation.plot_protocol(
        eval_dir, name, entry, summarized.result, *args, summary=summarized.summary)))
ENGINES.register("attack")(Engine(
    check_fits=attack.check_fits, run=attack.run_attack,
    values=lambda result, *, seed: attack.per_image_values(result),
    entry=lambda result, *, protocol_type, seconds, seed, values: attack.attack_entry(
        result, protocol_type=protocol_type, seconds=seconds, values=values),
    figures=lambda *args, **kwargs: []))


def engine_of(protocol) -> Engine:
  """The engine of a built protocol (by its `kind`)."""
  return ENGINES.get(protocol.kind)
