"""Evaluation: invariance under the paper's protocols over shift grids.

  protocols.py  PROTOCOLS registry: crop_shift, embed_shift, embed_scale, circular_shift,
                fractional_shift, and shift_attack (not a grid)
  inpaint.py    the normalised-convolution inpainting of embed_shift(fill='inpaint')
  grid.py       vectorised evaluation of a protocol's grid -> probs (image, grid point, class)
  metrics.py    P(top-1 change), MAC, accuracy, worst-case accuracy, consistency
  per_image.py  every metric per image and size (the reduction eval.json's summaries come
                from) and its file eval/per_image.npz
  bootstrap.py  intervals of means over seeds and images and of paired differences
  paired.py     paired comparisons of runs on their shared images: paired.json, paired.md
  interval_plots.py  plots of interval summaries and paired differences (paired_<metric>.png)
  adversarial.py  the worst grid point per image: stable prediction, worst-case accuracy
  attack.py     the sub-pixel adversary (shift_attack): gradient ascent over continuous shifts
  engines.py    which engine (grid or attack) evaluates a protocol, by its kind
  run.py        evaluate_workdir(workdir): all configured protocols -> workdir/eval/
  eval_config.py  the eval config chosen, completed and checked; its protocols built
  images.py     which test images are evaluated (and a protocol's num_images subset)
  jagged.py     the jagged curves: correct-class probability along a path of the grid
  figures.py    the PNGs of an evaluation (heat maps, jagged curves, per-report plots)
  report.py, plots.py, compare.py   eval.json, CSV, Markdown and PNG outputs
Top-1 accuracy, checkpoints and the device mesh are in runtime/ (shared with training/;
evaluate never imports training/).
Command line: python -m evaluate --workdir runs/x;
python -m evaluate.compare --workdirs a,b --out c [--baseline a]
"""
