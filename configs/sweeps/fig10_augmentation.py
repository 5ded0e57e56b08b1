"""Sweep: Azulay & Weiss (2019) figure 10, the three augmentations side by side.

  python sweep.py --config configs/sweeps/fig10_augmentation.py --workdir runs/fig10
  python sweep.py --config configs/sweeps/fig10_augmentation.py:cpu --workdir runs/fig10_cpu
  python sweep.py --config configs/sweeps/fig10_augmentation.py:cpu_seeds --workdir runs/fig10_seeds
':cpu_seeds' is the multi-seed study of RESULTS.md (configs/scales.py, apply_cpu_study_scale).
Members: no augmentation, downsize_embed (sizes 16-32 on black), upscale_crop (1x-2x); each
trained as configs/fig10_augmentation.py and evaluated with its protocols. The collected
sensitivity_vs_size_embed_black.png is the figure (P(top-1 change), MAC, accuracy versus
embedding size, one curve per augmentation).
Full scale: 3 ResNet-18 runs of 60 epochs (GPU/TPU; expected result in
configs/fig10_augmentation.py). ':cpu': ResNet-20 width 8, 20000 images, 3 epochs, 100
evaluation images, one seed; about 10 minutes per member on a 2-core CPU (RESULTS.md).
"""
from configs import fig10_augmentation, scales
from sweeps import default_sweep_config


def get_config(arg: str = ""):
  """arg: a scale of configs/scales.py ('' full scale, 'cpu', 'cpu_seeds', ...)."""
  scale = scales.get_scale(arg, "configs/sweeps/fig10_augmentation.py")
  sweep = default_sweep_config(fig10_augmentation.get_config("none" + ("," + arg if arg else "")))
  sweep.members = [
      {"label": name, "augment.policies": policies}
      for name, policies in fig10_augmentation.AUGMENTATIONS.items()]
  sweep.seeds = scale.seeds  # Curves: mean and spread over seeds.
  return sweep
