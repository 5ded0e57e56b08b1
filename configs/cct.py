"""The compact convolutional transformer CCT-7/3x1 (Hassani et al. 2021; models/cct.py).

  python train.py --config configs/cct.py --workdir runs/cct
Shift-invariant variant (APS in the tokenizer's pool, circular padding, a circular
convolutional position encoding; exactly invariant to integer circular shifts):
  python train.py --config configs/cct.py --workdir runs/cct_aps \
      --config.model.downsample=aps --config.model.posemb=peg --config.model.padding=circular
Time: not measured yet; about 3.7M parameters and 256 tokens: it needs a GPU. Hassani et al.
report about 0.95 test accuracy with a long recipe using AutoAugment, Mixup and CutMix, which
this framework does not have (crop+flip here): not reproduced.
"""
import ml_collections

from configs import default


def get_config():
  config = default.get_config()
  # A section of its own: the CNN options (blur_padding, nonlinearity, ...) keep their
  # model defaults (models/cct.py) and are not listed.
  config.model = ml_collections.ConfigDict()
  config.model.name = "cct"  # cct | vit (configs/vit.py).
  config.model.num_classes = 10  # Output logits.
  config.model.width = 256  # Token dimension D (CCT-7's).
  # No patch_size: CCT's tokens come from its conv tokenizer, conv_layers x [kernel_size conv,
  # ReLU, 3x3 max-pool stride 2].
  config.model.conv_layers = 1  # Tokenizer conv layers: (32 / 2**conv_layers)**2 tokens.
  config.model.kernel_size = 3  # Tokenizer conv kernel size.
  config.model.depth = 7  # Encoder blocks.
  config.model.num_heads = 4  # Attention heads (must divide width).
  config.model.mlp_ratio = 2.0  # MLP width / token dimension.
  # Position encoding: learn | sincos2d | none | peg (models/position.py).
  config.model.posemb = "learn"
  # Pooling: seq (CCT's sequence pooling) | gap | map | cls (models/transformer.py).
  config.model.pool = "seq"
  # How the tokenizer's max-pools subsample, as in the CNNs: stride | blurpool | none | aps |
  # lps | ideal | ideal_pool.
  config.model.downsample = "stride"
  config.model.aps_norm = "l2"  # l2 | l1 | linf: component norm that 'aps' maximises.
  config.model.blur_size = 3  # Binomial blur taps of 'blurpool' and 'aps', 1..7 (1 = none).
  config.model.padding = "zeros"  # zeros | circular: of the tokenizer's convs and pools, and 'peg'.
  config.model.dtype = "float32"  # Compute dtype (float32 | bfloat16); params stay float32.

  config.train.optimizer = "adamw"
  config.train.learning_rate = 5.5e-4  # Peak learning rate (Hassani et al.'s).
  config.train.weight_decay = 0.03  # Decoupled weight decay on kernels (Hassani et al.'s).
  config.train.num_epochs = 200.0  # Shorter than Hassani et al.'s schedule.
  config.train.warmup_epochs = 10.0
  config.train.label_smoothing = 0.1
  return config
