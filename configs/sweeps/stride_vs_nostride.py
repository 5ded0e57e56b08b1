"""Sweep: Azulay & Weiss (2019) figure 11, an AlexNet-style CNN with and without subsampling.

  python sweep.py --config configs/sweeps/stride_vs_nostride.py --workdir runs/fig11
  python sweep.py --config configs/sweeps/stride_vs_nostride.py:cpu --workdir runs/fig11_cpu
  python sweep.py --config configs/sweeps/stride_vs_nostride.py:cpu_seeds --workdir runs/fig11_seeds
':cpu_seeds' is the multi-seed study of RESULTS.md (configs/scales.py, apply_cpu_study_scale).
Members: configs/alexnet.py (max-pool stride 2) and configs/nostride.py (no subsampling,
global average pooling), and the no-subsampling network with circular padding, which is
invariant to circular shifts by construction, up to float rounding (P(top-1 change) = 0
under the 'circular' protocol; eval.json's max_logit_change says how far any logit moved).
Evaluated with the figure 10/11 protocols plus 'circular'.
Expected, from the paper: both reach about 0.8 accuracy at full scale; the one without
subsampling has P(top-1 change) near 0 under the black embedding (0 up to float rounding
with circular padding), the strided one does not.
Full scale: 3 runs x 3 seeds of 30 epochs, width 64 (GPU/TPU). ':cpu': width 16, 20000
images, 3 epochs, 100 evaluation images, one seed; about 3 minutes for the strided member and
10 for each no-subsampling member on a 2-core CPU (RESULTS.md).
"""
from configs import alexnet, scales
from sweeps import default_sweep_config


def get_config(arg: str = ""):
  """arg: a scale of configs/scales.py ('' full scale, 'cpu', 'cpu_seeds', ...)."""
  scale = scales.get_scale(arg, "configs/sweeps/stride_vs_nostride.py")
  base = alexnet.get_config()
  base.eval.protocols = scales.paper_protocols(sample_pairs=32)
  # Every roll of the image: the exact-invariance test (one grid of 32 x 32 rolls).
  base.eval.protocols.circular = dict(type="circular_shift", sample_pairs=32)
  sweep = default_sweep_config(scale.apply(base))
  sweep.members = [
      {"label": "stride", "model.name": "alexnet", "model.downsample": "stride"},
      {"label": "nostride", "model.name": "alexnet_nostride", "model.downsample": "none"},
      {"label": "nostride_circular", "model.name": "alexnet_nostride",
       "model.downsample": "none", "model.padding": "circular"},
  ]
  sweep.seeds = scale.seeds
  return sweep
