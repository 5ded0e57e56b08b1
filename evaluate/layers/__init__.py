"""Analyses inside the network (Azulay & Weiss 2019 secs. 3-5; Jansson et al. 2020).

  capture.py       every intermediate map, via Flax's capture_intermediates (no model changes)
  maps.py          normalised map errors, global-sum change, border masks
  chunks.py        jitted per-image work in fixed-size sharded chunks
  toy1d.py         the paper's Table 2 and appendix A.3 (1-D; scripts/table2.py)
  shiftability.py  'shiftability': equivariance error and global-sum change per layer
  alignment.py     'alignment': best alignment of feature maps under translation, rescaling, rotation
  readout.py       'readout': linear readouts of every layer's pooled features, their invariance
  typicality.py    'typicality': invariance per typicality bin (10 nearest training images)
  lie_derivative.py  'lie_derivative': the cumulative Lie derivative of each layer (the
                   network up to it) along continuous translations
  lie_layerwise.py 'lie_derivative_layerwise': Gruver et al.'s (2023) layer-wise Lie
                   derivative, each unit's own pushed to the output (translations.py: generators)
  runner.py        analyse_workdir(workdir, config) -> workdir/eval/layers/
Command line: python -m evaluate.layers --workdir runs/x [--config.analyses=shiftability]
"""
from evaluate.layers.registry import ANALYSES

# Importing the analysis modules registers them in ANALYSES (one line each).
from evaluate.layers import alignment as _alignment  # noqa: F401  pylint: disable=unused-import
from evaluate.layers import lie_derivative as _lie_derivative  # noqa: F401  pylint: disable=unused-import
from evaluate.layers import lie_layerwise as _lie_layerwise  # noqa: F401  pylint: disable=unused-import
from evaluate.layers import readout as _readout  # noqa: F401  pylint: disable=unused-import
from evaluate.layers import shiftability as _shiftability  # noqa: F401  pylint: disable=unused-import
from evaluate.layers import typicality as _typicality  # noqa: F401  pylint: disable=unused-import

__all__ = ["ANALYSES"]
