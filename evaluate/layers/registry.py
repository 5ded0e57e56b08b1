"""ANALYSES: name -> run(context, section) -> JSON-able dict (with 'files': the PNGs written).

`context` is an evaluate.layers.runner.LayerContext (model, variables, test images, data,
mesh, output directory, progress printer); `section` is the analysis' own config section
(config.<name>, evaluate/layers/config.py). Each analysis module registers itself with one
line, `@ANALYSES.register('<name>')`.
"""
from common.registry import Registry

ANALYSES: Registry = Registry("layer analysis")
