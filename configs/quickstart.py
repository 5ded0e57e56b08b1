"""A newcomer's first run: a narrow AlexNet-style CNN on CIFAR-10, on a laptop CPU.

  python train.py --config configs/quickstart.py --workdir runs/quickstart
Needs CIFAR-10: set CIFAR10_DIR (or --config.data.dir) to a local copy, else TFDS downloads it.
Time: under 10 minutes on a 2-core CPU; well under a minute on a GPU. See docs/training.md (Measured) for the
accuracy measured on this setting.
"""
from configs import default


def get_config():
  config = default.get_config()
  config.model.name = "alexnet"
  config.model.width = 16  # Narrow, for CPU speed.
  config.model.head = "gap"  # Global average pooling, as in every alexnet config here.
  config.augment.policies = "crop,flip"
  config.train.num_epochs = 4.0
  config.train.batch_size = 128
  config.train.learning_rate = 0.05
  config.train.warmup_epochs = 0.5
  config.train.log_every_steps = 50
  config.train.checkpoint_every_steps = 400
  return config
