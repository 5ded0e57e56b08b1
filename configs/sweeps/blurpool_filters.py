"""Sweep: Azulay & Weiss (2019) section 5.1, antialiasing by BlurPool with filters 1, 3, 5, 7.

  python sweep.py --config configs/sweeps/blurpool_filters.py --workdir runs/blurpool
  python sweep.py --config configs/sweeps/blurpool_filters.py:cpu --workdir runs/blurpool_cpu
  python sweep.py --config configs/sweeps/blurpool_filters.py:cpu_seeds --workdir runs/blurpool_seeds
':cpu_seeds' is the multi-seed study of RESULTS.md (configs/scales.py, apply_cpu_study_scale).
Members: ResNet-20 (configs/blurpool.py) whose every subsampling is "op at stride 1, then a
binomial blur of blur_size taps (reflect-padded, Zhang's default), then subsample" (Zhang
2019); blur_size 1 is no blur, i.e. exactly the plain strided network (every op at its
stride, so BatchNorm sees the same maps). All are evaluated with the figure 10/11 protocols
(configs/scales.py), with standard crop+flip augmentation.
Expected, from the paper: larger filters lower P(top-1 change) on the crop protocol somewhat,
but black embeddings of untrained sizes still flip about 15% of the time: antialiasing is
only a partial fix because ReLU re-creates high frequencies after the blur.
Full scale: 4 runs x 3 seeds of 30 epochs (GPU/TPU). ':cpu': ResNet-20 width 8, 20000
images, 3 epochs, 100 evaluation images, one seed; about 10 minutes per member on a 2-core
CPU (RESULTS.md).
"""
from configs import blurpool, scales
from sweeps import default_sweep_config

BLUR_SIZES = (1, 3, 5, 7)  # Binomial filter taps; 1 = no blur (exactly the strided network).
STUDY_BLUR_SIZES = (1, 3, 5)  # The ':cpu_seeds' study's filters (issue 18: the three per seed).


def get_config(arg: str = ""):
  """arg: a scale of configs/scales.py ('' full scale, 'cpu', 'cpu_seeds', ...)."""
  scale = scales.get_scale(arg, "configs/sweeps/blurpool_filters.py")
  base = blurpool.get_config()
  base.eval.protocols = scales.paper_protocols(sample_pairs=32)
  sweep = default_sweep_config(scale.apply(base))
  sweep.product = [("model.blur_size", STUDY_BLUR_SIZES if arg == "cpu_seeds" else BLUR_SIZES)]
  sweep.seeds = scale.seeds
  return sweep
