"""Evaluation: invariance under the paper's protocols over shift grids.

  config.py     the evaluation config: default_eval_config, completed, chosen for a run and
                checked (its protocols built); user eval configs import it
  protocols.py  PROTOCOLS registry: crop_shift, embed_shift, embed_scale, circular_shift,
                fractional_shift, and shift_attack (not a grid)
  inpaint.py    the normalised-convolution inpainting of embed_shift(fill='inpaint')
  grid.py       vectorised evaluation of a protocol's grid -> probs (image, grid point, class)
  grid_summary.py  what an evaluation keeps of a grid, reduced chunk by chunk
  attack.py     the sub-pixel adversary (shift_attack): descent of the margin over continuous shifts
  engines.py    which engine (grid or attack) evaluates a protocol, by its kind
  metrics.py    P(top-1 change), MAC, accuracy, worst-case accuracy, consistency
  adversarial.py  the worst grid point per image: stable prediction, worst-case accuracy
  run.py        evaluate_workdir(workdir): all configured protocols -> workdir/eval/
  images.py     which test images are evaluated (and a protocol's num_images subset)
  jagged.py     the jagged curves: correct-class probability along a path of the grid
  report.py     eval.json, the CSVs and summary.md of one evaluation
  json_values.py  metric values as JSON holds them
  stats/        the statistics: per-image values (per_image.npz), the bootstrap, paired
                comparisons of runs, the statistics of compare (evaluate/stats/__init__.py)
  paired_tables.py  the one renderer of paired comparisons as tables (paired.md, a sweep's
                differences, RESULTS.md's tables)
  plots/        every figure, one module per kind (evaluate/plots/__init__.py)
  compare.py    `python -m evaluate.compare`: several evaluated runs compared
  layers/       the analyses inside the network (`python -m evaluate.layers`)
Top-1 accuracy, checkpoints and the device mesh are in runtime/ (shared with training/;
evaluate never imports training/).
Command line: python -m evaluate --workdir runs/x;
python -m evaluate.compare --workdirs a,b --out c [--baseline a]
"""
