"""ResNet-20 with anti-aliased downsampling (BlurPool, Zhang 2019), binomial filter of size 5.

Every strided conv becomes conv at stride 1 + BlurPool; compare with configs/default.py
(plain stride) under the invariance protocols. The blur is padded by reflection, Zhang's
default (config.model.blur_padding='auto'; --config.model.blur_padding=zeros pads it with
zeros). Sweep the filter with --config.model.blur_size=1|3|5|7 (1 = no blur: exactly the
strided network of configs/default.py, BatchNorm statistics included).
  python train.py --config configs/blurpool.py --workdir runs/blurpool
Time: like configs/default.py (hours on a 2-core CPU; GPU times not measured yet).
Paper: Azulay & Weiss (2019) section 5.1. Expected at full scale, from the paper: antialiasing
lowers P(top-1 change) on the crop protocol but leaves about 15% on black embeddings of sizes
not seen in training. All filter sizes as one sweep (with a CPU scale, results in RESULTS.md):
  python sweep.py --config configs/sweeps/blurpool_filters.py --workdir runs/blurpool_filters
"""
from configs import default


def get_config():
  config = default.get_config()
  config.model.name = "resnet20"
  config.model.downsample = "blurpool"
  config.model.blur_size = 5  # Binomial filter [1, 4, 6, 4, 1] / 16 ("bin-5").
  return config
