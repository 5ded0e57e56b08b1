"""Evaluation: test accuracy, and invariance under the paper's protocols over shift grids.

  accuracy.py   top-1 accuracy on the device (used by training)
  protocols.py  PROTOCOLS registry: crop_shift, embed_shift, embed_scale, circular_shift,
                fractional_shift
  inpaint.py    the normalised-convolution inpainting of embed_shift(fill='inpaint')
  grid.py       vectorised evaluation of a protocol's grid -> probs (image, grid point, class)
  metrics.py    P(top-1 change), MAC, accuracy, worst-case accuracy, consistency
  adversarial.py  the worst grid point per image: stable prediction, worst-case accuracy
  run.py        evaluate_workdir(workdir): all configured protocols -> workdir/eval/
  report.py, plots.py, compare.py   eval.json, CSV, Markdown and PNG outputs
Command line: python -m evaluate --workdir runs/x; python -m evaluate.compare --workdirs a,b --out c
"""
