"""Sweep: how far does augmentation reach? The range of downsize_embed and of upscale_crop.

  python sweep.py --config configs/sweeps/augment_range.py --workdir runs/augrange
  python sweep.py --config configs/sweeps/augment_range.py:cpu --workdir runs/augrange_cpu
  python sweep.py --config configs/sweeps/augment_range.py:cpu_trained \
      --workdir runs/augment_range_trained --export_to results/augment_range_trained
Members: downsize_embed with the smallest trained size min_size in 32 (= no augmentation), 28,
24, 20, 16, 12, and upscale_crop with max_scale in 1.25, 1.5, 2; 3 seeds each at full scale.
Read sensitivity_vs_size_embed_black.png: the paper's claim (section 5.2) is that each curve
is low only down to its own min_size; crop-trained members should gain on the crop protocol
only.
Full scale: 27 ResNet-18 runs of 60 epochs (GPU/TPU; spread them with --index, one member
per machine). ':cpu': ResNet-20 width 8, 20000 images, 3 epochs, 100 evaluation images, one
seed, fewer ranges (min_size 32, 24, 16; max_scale 2): about 10 minutes per member on a
2-core CPU. ':cpu_trained' (the trained study, configs/scales.py): all 50,000 images, 10 epochs
of the fast recipe, 3 seeds, 1000 evaluation images; members 'none' (no translation or scale
augmentation), embed_min24, embed_min16, crop_max1.5, crop_max2, all with alternating flips
(RANGES).
"""
from configs import fig10_augmentation, scales
from sweeps import default_sweep_config

MIN_SIZES = (32, 28, 24, 20, 16, 12)  # Smallest side length of the downsize_embed augmentation.
MAX_SCALES = (1.25, 1.5, 2.0)  # Largest factor of the upscale_crop augmentation.
# Scale -> (min_sizes, max_scales, with_none, flip): the ranges swept at that scale (others:
# MIN_SIZES, MAX_SCALES), whether a member without translation or scale augmentation ('none')
# is added, and a flip policy added to every member ('' = none). The trained study flips
# every member, 'none' included: a mirror image is neither a translation nor a rescaling, so it
# teaches neither, and it buys the accuracy (configs/scales.py) the study needs.
RANGES = {
    "": (MIN_SIZES, MAX_SCALES, False, ""),
    "cpu": ((32, 24, 16), (2.0,), False, ""),
    "cpu_trained": ((24, 16), (1.5, 2.0), True, "alternating_flip"),
}


def _policies(policy: str, flip: str) -> str:
  """`policy` and the flip policy, comma-separated ('' when both are empty)."""
  return ",".join(name for name in (policy, flip) if name)


def get_config(arg: str = ""):
  """arg: a scale of configs/scales.py ('' full scale, 'cpu', 'cpu_trained', ...)."""
  scale = scales.get_scale(arg, "configs/sweeps/augment_range.py")
  base = fig10_augmentation.get_config("downsize_embed" + ("," + arg if arg else ""))
  sweep = default_sweep_config(base)
  min_sizes, max_scales, with_none, flip = RANGES.get(arg, RANGES[""])
  sweep.members = (
      ([{"label": "none", "augment.policies": _policies("", flip)}] if with_none else [])
      + [{"label": f"embed_min{size}", "augment.policies": _policies("downsize_embed", flip),
          "augment.downsize_embed.min_size": size} for size in min_sizes]
      + [{"label": f"crop_max{scale}", "augment.policies": _policies("upscale_crop", flip),
          "augment.upscale_crop.max_scale": scale} for scale in max_scales])
  sweep.seeds = scale.seeds
  return sweep
