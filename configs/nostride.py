"""AlexNet-style CNN WITHOUT subsampling: the red curve of Azulay & Weiss (2019), figure 11.

The same convolutions as configs/alexnet.py, but stride 1 everywhere (pooling windows kept at
stride 1) and global average pooling. With this config's zero padding it is NOT exactly
invariant: the zero border is a fixed reference, so a roll of the input changes its logits
(by about 0.03 for a trained model). Only with --config.model.padding=circular is it
invariant by construction to circular shifts, up to float rounding (the evaluation reports
the largest logit change, max_logit_change).
  python train.py --config configs/nostride.py --workdir runs/nostride
Time: every layer runs at full 32x32 resolution, so it costs about 3x the strided model: at
width 16 it trains at about 180 images/s on a 2-core CPU versus about 500 for configs/alexnet.py
(python -m benchmarks.train_step_overhead --width=16). On a CPU reduce it, e.g.
--config.model.width=16 --config.train.num_epochs=4 (about 20 minutes). GPU times are not
measured yet.
Expected at full scale, from the paper: accuracy about 0.8, like configs/alexnet.py, and
P(top-1 change) about 0 under the black-embedding protocol. Both as one sweep:
  python sweep.py --config configs/sweeps/stride_vs_nostride.py --workdir runs/fig11
"""
from configs import alexnet


def get_config():
  config = alexnet.get_config()
  config.model.name = "alexnet_nostride"
  config.model.downsample = "none"  # The only difference from configs/alexnet.py.
  return config
