"""AlexNet-style CNN WITHOUT subsampling: the red curve of Azulay & Weiss (2019), figure 11.

The same convolutions as configs/alexnet.py, but stride 1 everywhere (pooling windows kept at
stride 1) and global average pooling: exactly translation invariant by construction (exactly
so for circular shifts with model.padding='circular').
  python train.py --config configs/nostride.py --workdir runs/nostride
Time: about 10 minutes on one modern GPU; several hours on a 2-core CPU (every layer runs
at full 32x32 resolution), so on a CPU reduce it, e.g. --config.train.num_epochs=3
--config.model.width=32.
"""
from configs import alexnet


def get_config():
  config = alexnet.get_config()
  config.model.name = "alexnet_nostride"
  config.model.downsample = "none"  # The only difference from configs/alexnet.py.
  return config
