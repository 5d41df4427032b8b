"""A tiny CIFAR-shaped network with every layer kind the device and training options touch."""

from __future__ import annotations

import torch
import torch.nn as nn


class Tiny(nn.Module):
    """Conv + BatchNorm + ReLU + pooling + linear: every layer kind the options touch, and fast."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def tiny(seed: int = 0) -> Tiny:
    torch.manual_seed(seed)
    return Tiny()
