"""Default `config.augment`: the policy list and every policy's options."""
import ml_collections


def default_augment_config() -> ml_collections.ConfigDict:
  """Defaults for config.augment; each policy's sub-dict is used only when it is listed."""
  config = ml_collections.ConfigDict()
  # Comma-separated policy names applied in order; '' or 'none' = no augmentation.
  # Registered: alternating_flip, crop, downsize_embed, flip, translate, upscale_crop, worst_of_k.
  config.policies = "crop,flip"
  config.flip = ml_collections.ConfigDict(dict(
      prob=0.5,  # Probability in [0, 1] that an example is mirrored left-right; 0 = identity.
  ))
  # Mirrored in every other epoch, the first orientation a fair coin per example (airbench's
  # derandomised flip; augment/flip.py). No options.
  config.alternating_flip = ml_collections.ConfigDict()
  config.crop = ml_collections.ConfigDict(dict(
      pad=4,  # Padding per side in pixels (>= 0); the window moves by up to +-pad; 0 = identity.
      fill="black",  # Padding: 'black' (0), 'mean' (CIFAR10_MEAN), 'reflect' or 'edge'.
  ))
  config.translate = ml_collections.ConfigDict(dict(
      max_shift=4,  # Shift (dy, dx) uniform in [-max_shift, max_shift]^2 pixels; 0 = identity.
      mode="circular",  # 'circular' (jnp.roll) or 'fill' (shifted-in pixels get `fill`).
      fill="black",  # Colour for mode 'fill': 'black' (0) or 'mean' (CIFAR10_MEAN).
  ))
  config.downsize_embed = ml_collections.ConfigDict(dict(
      min_size=16,  # Smallest embedded side length in pixels (>= 1).
      max_size=32,  # Largest embedded side length (<= 32); min_size = max_size = 32 = identity.
      fill="black",  # Canvas colour: 'black' (0) or 'mean' (CIFAR10_MEAN).
      method="linear",  # Resize kernel: linear, cubic, lanczos3, lanczos5 or area.
      antialias=True,  # Low-pass filter when downsizing (Azulay & Weiss: antialiased resize).
  ))
  config.upscale_crop = ml_collections.ConfigDict(dict(
      max_scale=2.0,  # Upscaling factor uniform in [1, max_scale] (>= 1); 1 = identity.
      method="linear",  # Resize kernel: linear, cubic, lanczos3, lanczos5 or area.
  ))
  # Worst of k (Engstrom et al. 2019, translations only here: they also rotate): per example,
  # k draws of `policy`; the one with the largest loss under the current model
  # (inference-mode BatchNorm, no gradient) is trained on.
  config.worst_of_k = ml_collections.ConfigDict(dict(
      k=10,  # Candidates per example (>= 1); 1 = exactly the wrapped policy (no extra pass).
      policy="translate",  # Wrapped policy: crop, downsize_embed or translate (its own options).
      # The untransformed image is one more candidate (k + 1 in all; ties go to it).
      include_original=False,
  ))
  return config
