"""The alias-free ViT (`afvit`, Michaeli & Soudry 2025; models/afvit.py) on CIFAR-10.

An XCiT-style transformer on a 8 x 8 token grid (patch_size 4 from 32 x 32 images) whose
logits are invariant up to float rounding to integer and half-pixel circular shifts of the
input (docs/models.md, "The alias-free ViT"). AdamW with a transformer recipe (label
smoothing, 5 warm-up epochs, weight decay 0.05 on kernels); crop+flip augmentation.
  python train.py --config configs/afvit.py --workdir runs/afvit
Time: needs a GPU (the stem runs at full 32 x 32 resolution and every activation on the x2
grid); GPU times and the accuracy of this recipe are not measured yet. A CPU-sized run:
--config.model.width=32 --config.model.depth=2 --config.model.num_heads=2.
"""
import ml_collections

from configs import default


def get_config():
  config = default.get_config()
  # ---- Model: afvit has its own options, not the CNNs' (no downsample, padding, blur,
  # nonlinearity: its token grid always comes from the ideal low-pass, its padding is
  # always circular).
  config.model = ml_collections.ConfigDict()
  config.model.name = "afvit"  # The alias-free ViT (models/afvit.py).
  config.model.num_classes = 10  # Output logits.
  config.model.width = 192  # Channels per token (XCiT-T's width).
  # Factor of the ideal low-pass downsampling from the image to the token grid (and the
  # side of the stem's second, stride-1 circular convolution): 32 x 32 -> 8 x 8 tokens.
  config.model.patch_size = 4
  config.model.depth = 12  # XCiT blocks (XCA, local patch interaction, MLP).
  config.model.num_heads = 4  # Cross-covariance attention heads; must divide width.
  config.model.mlp_ratio = 4.0  # MLP hidden units per token channel.
  # afc_poly (the alias-free convnet's trainable polynomial on the x2 grid: exact) |
  # alias_free_gelu (GELU on the x2 grid: approximate, it only reduces aliasing).
  config.model.activation = "afc_poly"
  config.model.dtype = "float32"  # Compute dtype (float32 | bfloat16); params stay float32.

  config.train.optimizer = "adamw"  # AdamW, decoupled weight decay on kernels only.
  config.train.learning_rate = 1e-3  # Peak learning rate.
  config.train.weight_decay = 0.05  # Decoupled weight decay (kernels only).
  config.train.warmup_epochs = 5.0  # Linear warm-up from 0 to learning_rate.
  config.train.num_epochs = 100.0  # Length of training.
  config.train.label_smoothing = 0.1  # Transformers' usual smoothing.
  return config
