"""Sweep: how far does augmentation reach? The range of downsize_embed and of upscale_crop.

  python sweep.py --config configs/sweeps/augment_range.py --workdir runs/augrange
  python sweep.py --config configs/sweeps/augment_range.py:cpu --workdir runs/augrange_cpu
Members: downsize_embed with the smallest trained size min_size in 32 (= no augmentation), 28,
24, 20, 16, 12, and upscale_crop with max_scale in 1.25, 1.5, 2; 3 seeds each at full scale.
Read sensitivity_vs_size_embed_black.png: the paper's claim (section 5.2) is that each curve
is low only down to its own min_size; crop-trained members should gain on the crop protocol
only.
Full scale: 27 ResNet-18 runs of 60 epochs (GPU/TPU; spread them with --index, one member
per machine). ':cpu': ResNet-20 width 8, 20000 images, 3 epochs, 100 evaluation images, one
seed, fewer ranges (min_size 32, 24, 16; max_scale 2): about 10 minutes per member on a
2-core CPU.
"""
from configs import fig10_augmentation
from sweeps import default_sweep_config

MIN_SIZES = (32, 28, 24, 20, 16, 12)  # Smallest side length of the downsize_embed augmentation.
MAX_SCALES = (1.25, 1.5, 2.0)  # Largest factor of the upscale_crop augmentation.


def get_config(arg: str = ""):
  """arg: '' (full scale) or 'cpu'."""
  if arg not in ("", "cpu"):
    raise ValueError(f"configs/sweeps/augment_range.py takes '' or 'cpu', got {arg!r}")
  cpu = arg == "cpu"
  base = fig10_augmentation.get_config("downsize_embed" + (",cpu" if cpu else ""))
  sweep = default_sweep_config(base)
  min_sizes = (32, 24, 16) if cpu else MIN_SIZES
  max_scales = (2.0,) if cpu else MAX_SCALES
  sweep.members = (
      [{"label": f"embed_min{size}", "augment.policies": "downsize_embed",
        "augment.downsize_embed.min_size": size} for size in min_sizes]
      + [{"label": f"crop_max{scale}", "augment.policies": "upscale_crop",
          "augment.upscale_crop.max_scale": scale} for scale in max_scales])
  sweep.seeds = (0,) if cpu else (0, 1, 2)
  return sweep
