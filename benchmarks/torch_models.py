"""PyTorch versions of the zoo's models, for the side-by-side speed benchmark only.

Same layer shapes and parameter counts as the zoo's models with default options (zero
padding, stride; alexnet_nostride without subsampling), written as a PyTorch user would
(channels-first `nn.Conv2d`, `nn.BatchNorm2d`, `nn.MaxPool2d`). Importing this module
imports torch: PyTorch is an optional install for `benchmarks/pytorch_peer.py`, not a
requirement of the project.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class TorchAlexNet(nn.Module):
  """2 x [conv 5x5, BN, ReLU, max-pool 3x3 (stride `pool_stride`)], GAP, 384-192-classes."""

  def __init__(self, width: int = 64, pool_stride: int = 2, num_classes: int = 10):
    super().__init__()
    layers, channels = [], 3
    for _ in range(2):
      layers += [nn.Conv2d(channels, width, 5, padding=2, bias=False), nn.BatchNorm2d(width),
                 nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=pool_stride, padding=1)]
      channels = width
    self.features = nn.Sequential(*layers)
    self.head = nn.Sequential(nn.Linear(width, 384), nn.ReLU(inplace=True),
                              nn.Linear(384, 192), nn.ReLU(inplace=True),
                              nn.Linear(192, num_classes))

  def forward(self, x):
    return self.head(self.features(x).mean(dim=(2, 3)))


class TorchBasicBlock(nn.Module):
  """3x3 conv-BN-ReLU (strided), 3x3 conv-BN, + shortcut (1x1 conv-BN where shapes differ)."""

  def __init__(self, in_channels: int, features: int, stride: int):
    super().__init__()
    self.conv1 = nn.Conv2d(in_channels, features, 3, stride=stride, padding=1, bias=False)
    self.bn1 = nn.BatchNorm2d(features)
    self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=False)
    self.bn2 = nn.BatchNorm2d(features)
    self.shortcut = nn.Identity()
    if stride != 1 or in_channels != features:
      self.shortcut = nn.Sequential(nn.Conv2d(in_channels, features, 1, stride=stride,
                                              bias=False), nn.BatchNorm2d(features))

  def forward(self, x):
    y = torch.relu(self.bn1(self.conv1(x)))
    y = self.bn2(self.conv2(y))
    return torch.relu(y + self.shortcut(x))


class TorchResNet(nn.Module):
  """CIFAR ResNet: 3x3 stem, basic-block stages (first block of later stages strided), GAP."""

  def __init__(self, stage_sizes: tuple[int, ...], width: int, num_classes: int = 10):
    super().__init__()
    self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False),
                              nn.BatchNorm2d(width), nn.ReLU(inplace=True))
    blocks, channels = [], width
    for stage, count in enumerate(stage_sizes):
      for index in range(count):
        stride = 2 if stage > 0 and index == 0 else 1
        blocks.append(TorchBasicBlock(channels, width * 2**stage, stride))
        channels = width * 2**stage
    self.blocks = nn.Sequential(*blocks)
    self.classifier = nn.Linear(channels, num_classes)

  def forward(self, x):
    return self.classifier(self.blocks(self.stem(x)).mean(dim=(2, 3)))


# name -> width (None: the zoo's default) -> torch module.
TORCH_MODELS: dict[str, Callable[[int | None], nn.Module]] = {
    "alexnet": lambda width: TorchAlexNet(width or 64, pool_stride=2),
    "alexnet_nostride": lambda width: TorchAlexNet(width or 64, pool_stride=1),
    "resnet20": lambda width: TorchResNet((3, 3, 3), width or 16),
    "resnet18": lambda width: TorchResNet((2, 2, 2, 2), width or 64),
}
