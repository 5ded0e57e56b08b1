"""A small CIFAR vision transformer (models/vit.py, big_vision style), trained with AdamW.

  python train.py --config configs/vit.py --workdir runs/vit
The shift-invariant variant (Ding et al.'s polyphase-anchored patch embedding, a circular
convolutional position encoding; exactly invariant to integer circular shifts, docs/models.md):
  python train.py --config configs/vit.py --workdir runs/vit_aps \
      --config.model.downsample=aps --config.model.posemb=peg --config.model.padding=circular
Time: not measured yet; at the default size (about 2.7M parameters, 64 tokens) it needs a GPU
(on a 2-core CPU try --config.model.width=64 --config.model.depth=2 --config.train.num_epochs=2).
Accuracy at this recipe is not measured here (crop+flip only; ViTs trained from scratch on
CIFAR-10 need stronger augmentation for the accuracies reported in the literature).
"""
import ml_collections

from configs import default


def get_config():
  config = default.get_config()
  # A section of its own: the CNN options (blur_padding, nonlinearity, ...) keep their
  # model defaults (models/vit.py) and are not listed.
  config.model = ml_collections.ConfigDict()
  config.model.name = "vit"  # vit | cct (configs/cct.py).
  config.model.num_classes = 10  # Output logits.
  config.model.width = 192  # Token dimension D (ViT-Tiny's).
  config.model.patch_size = 4  # p: p x p patches, (32 / p)**2 tokens.
  config.model.depth = 6  # Encoder blocks.
  config.model.num_heads = 3  # Attention heads (must divide width).
  config.model.mlp_ratio = 4.0  # MLP width / token dimension.
  # Position encoding: learn (learned, absolute) | sincos2d (fixed 2-D sine-cosine, absolute)
  # | none | peg (circular-or-zero-padded depthwise 3x3 conv + residual after block 1, Chu et
  # al.'s conditional encoding; relative with padding=circular).
  config.model.posemb = "learn"
  # Pooling of the tokens: gap (mean) | map (attention pooling, big_vision's MAPHead) | cls
  # (class token) | seq (CCT's sequence pooling).
  config.model.pool = "gap"
  # How the patch embedding subsamples: stride (plain patchify) | aps (Ding et al.'s
  # polyphase anchoring: the p x p phase of the image with the largest norm rolled to the
  # origin first) | blurpool | ideal (the patch conv at every pixel, then BlurPool / ideal
  # low-pass and subsampling) | lps (patch_size 2 only) | none (one token per pixel).
  config.model.downsample = "stride"
  config.model.aps_norm = "l2"  # l2 | l1 | linf: phase norm that 'aps' maximises.
  config.model.blur_size = 3  # Binomial blur taps of 'blurpool', 1..7 (aps never blurs here).
  # zeros | circular: padding of the 'peg' conv and of the patch conv run at every pixel
  # (the plain patchify needs none). circular + aps + peg/none: exactly shift invariant.
  config.model.padding = "zeros"
  config.model.dtype = "float32"  # Compute dtype (float32 | bfloat16); params stay float32.

  config.train.optimizer = "adamw"
  config.train.learning_rate = 1e-3  # Peak learning rate (AdamW).
  config.train.weight_decay = 0.05  # Decoupled weight decay on kernels.
  config.train.num_epochs = 100.0
  config.train.warmup_epochs = 5.0
  config.train.label_smoothing = 0.1
  return config
