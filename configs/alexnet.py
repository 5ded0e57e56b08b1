"""AlexNet-style CNN WITH subsampling: the gray curve of Azulay & Weiss (2019), figure 11.

Two 5x5 conv + 3x3 max-pool (stride 2) stages, global average pooling, dense 384-192-10.
Pair it with configs/nostride.py, which differs only in having no subsampling.
  python train.py --config configs/alexnet.py --workdir runs/alexnet
Time: on a 2-core CPU this width-64 model trains at roughly 100-150 images/s (measure with
python -m benchmarks.train_step_overhead --models=alexnet --width=64), i.e. hours for 30
epochs; a CPU-sized variant: --config.model.width=16 --config.train.num_epochs=4 (about 8
minutes, like configs/quickstart.py). GPU times are not measured yet.
The paper reports test accuracy around 0.8 for both networks at full scale.
Both networks of figure 11 (and a circular-padded one), evaluated and plotted as one sweep:
  python sweep.py --config configs/sweeps/stride_vs_nostride.py --workdir runs/fig11
(':cpu' appended to the config path gives the CPU scale of RESULTS.md.)
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
