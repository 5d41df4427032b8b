"""DenseNet-40 (k=12) for CIFAR (Huang et al., "Densely Connected Convolutional Networks", CVPR 2017),
the variant pruned by HRankPlus: a 3x3 stem with 2k channels, three dense blocks of 12 BN-ReLU-Conv3x3
layers each adding k channels by concatenation, and BN-ReLU-Conv1x1-AvgPool transitions without
compression. ~1.0 M parameters."""

from __future__ import annotations

import torch
import torch.nn as nn

from bench.models.init import kaiming_convs


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
        self.init_parameters()

    def init_parameters(self) -> None:
        """Also the Scratch protocols' reinitialization of a pruned copy (bench.models.init)."""
        kaiming_convs(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def _consumers(self) -> list[tuple[str, str]]:
        """(conv, the ReLU of the layer that reads it next), in order: each conv's output is first
        normalized by the next layer's BN + ReLU (the network's final ones for the last layer)."""
        convs = ["conv1"] + [f"blocks.{i}.conv" for i in range(len(self.blocks))]
        readers = [f"blocks.{i}.relu" for i in range(len(self.blocks))] + ["relu"]
        return list(zip(convs, readers))

    def feature_maps(self) -> dict[str, tuple[str, list[int]]]:
        """Where HRankPlus ranks each conv: at the ReLU of the layer that reads it next (after that
        layer's BN), on the channels this conv produced: the last ones of that layer's input for a
        dense layer, all of them for the stem and the transitions (their output is the whole input)."""
        maps = {}
        for conv, reader in self._consumers():
            width = self.get_submodule(reader.rpartition(".")[0] + ".bn" if "." in reader else "bn").num_features
            k = self.get_submodule(conv).out_channels
            concatenated = conv != "conv1" and isinstance(self.get_submodule(conv.rpartition(".")[0]), DenseLayer)
            maps[conv] = (reader, list(range(width - k, width)) if concatenated else list(range(width)))
        return maps

    def pruning_layouts(self) -> dict[str, dict]:
        """HRankPlus's DenseNet-40 mapping: one compress-rate entry per conv in order, but entry 0 (the
        stem) prunes nothing, and a transition's rate applies to its pruned input width (the stem or
        previous transition plus the block's dense layers), not to its own width."""
        entries: list[list[str]] = [[]]  # the stem keeps its 2k channels in HRankPlus
        relative: dict[str, list[str]] = {}
        inputs = ["conv1"]
        for i, block in enumerate(self.blocks):
            name = f"blocks.{i}.conv"
            entries.append([name])
            if isinstance(block, Transition):
                relative[name] = inputs
                inputs = [name]
            else:
                inputs = inputs + [name]
        return {
            "hrankplus": {
                "description": "HRankPlus: every dense-layer conv keeps int(k * (1 - rate)) of its k channels, "
                "every transition int(pruned input width * (1 - rate)); the stem entry prunes nothing",
                "entries": entries,
                "relative": relative,
            }
        }


def densenet40(num_classes: int = 10, in_channels: int = 3, **_: object) -> CifarDenseNet:
    """DenseNet-40, growth rate 12."""
    return CifarDenseNet(40, 12, num_classes, in_channels)
