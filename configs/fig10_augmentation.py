"""Azulay & Weiss (2019) figure 10: does data augmentation teach translation invariance?

One ResNet per augmentation, chosen by the config argument:
  python train.py --config configs/fig10_augmentation.py:none --workdir runs/fig10_none
  python train.py --config configs/fig10_augmentation.py:downsize_embed --workdir runs/fig10_embed
  python train.py --config configs/fig10_augmentation.py:upscale_crop --workdir runs/fig10_crop
(all three, evaluated and plotted together: python sweep.py --config
configs/sweeps/fig10_augmentation.py --workdir runs/fig10). Each run is evaluated at the end
(eval.run_after_training) with the black-embedding, crop and rescaling protocols of
configs/scales.py: P(top-1 change), MAC and accuracy versus embedding size.

Full scale: ResNet-18 (the paper used ResNet-50), 60 epochs, 1000 evaluation images; needs a
GPU or TPU (not measured here: this project's sessions had no accelerator). Expected, from the
paper: augmentation lowers P(top-1 change) mainly for the transformations it trained on:
the downsize_embed network is the least sensitive on black embeddings of the sizes it saw
(16-32 here) and much less so below them (8, 12); upscale_crop helps the crop protocol; the
unaugmented network is sensitive everywhere.
CPU scale (RESULTS.md): ResNet-20 width 8, 20000 training images, 3 epochs, 100 evaluation
images, about 10 minutes per run on a 2-core CPU:
  python train.py --config configs/fig10_augmentation.py:downsize_embed,cpu --workdir runs/x
"""
from configs import resnet18, scales

# The augmentations of figure 10: config argument -> augment.policies.
AUGMENTATIONS = {
    "none": "",  # Gray curve: no augmentation at all.
    "downsize_embed": "downsize_embed",  # Green: randomly downsized and placed on black.
    "upscale_crop": "upscale_crop",  # Red: randomly upscaled and cropped.
}


def get_config(arg: str = "downsize_embed"):
  """arg: an AUGMENTATIONS name, optionally followed by ',<scale>' with a scale of
  configs/scales.py ('cpu', 'cpu_seeds', 'cpu_trained')."""
  augmentation, _, scale_name = arg.partition(",")
  if augmentation not in AUGMENTATIONS:
    raise ValueError(f"configs/fig10_augmentation.py takes '<augmentation>[,<scale>]' "
                     f"with <augmentation> one of {sorted(AUGMENTATIONS)}, got {arg!r}")
  scale = scales.get_scale(scale_name, "configs/fig10_augmentation.py")
  config = resnet18.get_config()
  config.augment.policies = AUGMENTATIONS[augmentation]
  config.augment.downsize_embed.min_size = 16  # Trained sizes 16..32 (evaluated down to 8).
  config.augment.downsize_embed.fill = "black"  # The paper's black background.
  config.augment.upscale_crop.max_scale = 2.0  # Upscaled 1x..2x, then a random 32x32 crop.
  config.eval.protocols = scales.paper_protocols(sample_pairs=32)
  config.eval.run_after_training = True  # Evaluate right after training (writes eval/).
  if scale_name:
    config.model.name = "resnet20"  # ResNet-18 is too slow for a CPU.
  return scale.apply(config)
