"""DenseNet-40 (k=12) for CIFAR (Huang et al., "Densely Connected Convolutional Networks", CVPR 2017),
the variant pruned by HRankPlus: a 3x3 stem with 2k channels, three dense blocks of 12 BN-ReLU-Conv3x3
layers each adding k channels by concatenation, and BN-ReLU-Conv1x1-AvgPool transitions without
compression. ~1.0 M parameters."""

from __future__ import annotations

import torch
import torch.nn as nn


class DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(self.relu(self.bn(x)))], 1)


class Transition(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(self.relu(self.bn(x))))


class CifarDenseNet(nn.Module):
    def __init__(self, depth: int = 40, growth: int = 12, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        n = (depth - 4) // 3
        width = 2 * growth
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        for stage in range(3):
            for _ in range(n):
                blocks.append(DenseLayer(width, growth))
                width += growth
            if stage < 2:
                blocks.append(Transition(width, width))
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def compress_rate_layout(self) -> list[list[str]]:
        """One entry per conv in order: the stem, then every dense-layer and transition conv."""
        return [[name] for name, m in self.named_modules() if isinstance(m, nn.Conv2d)]


def densenet40(num_classes: int = 10, in_channels: int = 3, **_: object) -> CifarDenseNet:
    """DenseNet-40, growth rate 12."""
    return CifarDenseNet(40, 12, num_classes, in_channels)
