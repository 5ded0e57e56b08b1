"""ResNet-18 in CIFAR form (3x3 stem, no stem max-pool), crop+flip, 60 epochs.

  python train.py --config configs/resnet18.py --workdir runs/resnet18
Time: needs a GPU or TPU (on a GPU try --config.model.dtype=bfloat16); not practical on a
2-core CPU. GPU times are not measured yet; ResNet-18 on CIFAR-10 typically reaches about 0.95
test accuracy with this recipe in the literature (not yet reproduced here).
"""
from configs import default


def get_config():
  config = default.get_config()
  config.model.name = "resnet18"
  config.model.width = 64  # Channels of the first stage (doubles at each later stage).
  config.train.num_epochs = 60.0
  config.train.batch_size = 256
  config.train.learning_rate = 0.2
  return config
