"""AlexNet-style CNN WITH subsampling: the gray curve of Azulay & Weiss (2019), figure 11.

Two 5x5 conv + 3x3 max-pool (stride 2) stages, global average pooling, dense 384-192-10.
Pair it with configs/nostride.py, which differs only in having no subsampling.
  python train.py --config configs/alexnet.py --workdir runs/alexnet
Time: about 3 minutes on one modern GPU; about 25 minutes on a 2-core CPU.
The paper reports test accuracy around 0.8 for both networks.
"""
from configs import default


def get_config():
  config = default.get_config()
  config.model.name = "alexnet"
  config.model.width = 64  # Channels of both conv layers.
  config.model.head = "gap"  # gap (global average pool) | flatten (classic, not invariant).
  config.augment.policies = "crop,flip"  # Standard CIFAR-10 augmentation.
  config.train.num_epochs = 30.0
  config.train.learning_rate = 0.05
  return config
