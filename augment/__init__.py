"""Data augmentation policies applied to whole batches inside the jitted train step.

Images are float pixel values in [0, 255], shape (B, H, W, C); policies run before
data.normalize.normalize. Use:

  augment = build_augment(config.augment)       # validates the config at once
  images = augment(key, images)                  # inside jit; one draw per example
  images = augment(key, images, loss_fn=loss_fn)  # when augment.needs_loss (worst_of_k)

The deterministic geometric cores (embed_resized, upscale_crop_at, shift_image,
pad_and_crop_at) are exported for the evaluation protocols, which build shift grids with them.
"""
# Importing the policy modules registers them in POLICIES.
from augment.config import default_augment_config
from augment.crop import PADDINGS, draw_crop_offset, pad_and_crop_at
from augment.downsize_embed import draw_embedding, embed_resized
from augment.fill import FILLS, fill_color
from augment.flip import draw_flip, flip_horizontal
from augment.pipeline import (LossAwarePolicy, apply_per_example, build_augment, make_policy,
                              parse_policy_names)
from augment.registry import POLICIES
from augment.translate import SHIFT_MODES, draw_shift, shift_image
from augment.upscale_crop import draw_upscale_crop, upscale_crop_at
from augment.worst_of_k import WRAPPABLE_POLICIES

__all__ = [
    "FILLS", "LossAwarePolicy", "PADDINGS", "POLICIES", "SHIFT_MODES", "WRAPPABLE_POLICIES",
    "apply_per_example", "build_augment", "default_augment_config", "make_policy",
    "parse_policy_names",
    "draw_crop_offset", "draw_embedding", "draw_flip", "draw_shift", "draw_upscale_crop",
    "embed_resized", "fill_color", "flip_horizontal", "pad_and_crop_at", "shift_image",
    "upscale_crop_at",
]
