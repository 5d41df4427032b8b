"""The built-in models' initialization, shared by their constructors and by the Scratch protocols'
reinitialization, so that a pruned architecture trained from scratch starts as its dense model did."""

from __future__ import annotations

import torch.nn as nn


def kaiming_convs(model: nn.Module) -> None:
    """He et al. 2015 normal init, fan-out mode, on every conv (the CIFAR references' init: the
    ResNet, VGG and DenseNet code of Liu et al. 2019 and HRankPlus). BatchNorm and Linear keep
    PyTorch's defaults (weight 1 / bias 0, and Kaiming uniform)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
