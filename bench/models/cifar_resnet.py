"""CIFAR ResNet-20/32/44/56/110 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

The standard CIFAR variant: a 3x3 stem with 16 channels, three stages of 16/32/64 channels with
(depth - 2) / 6 basic blocks each, and parameter-free shortcuts ("option A": identity, or
subsample + zero-pad where the width doubles). ResNet-56 has ~0.85 M parameters.

The shortcut is a module of its own (`ChannelShortcut`) that routes input channel `src[i]` to output
channel `dst[i]`. Densely it is exactly identity / zero padding; after pruning it routes only the
channels that survive on both sides. That makes each block's output channels independent of its
neighbours, which is what HRankPlus's per-stage compress rates assume, and it gives torch-pruning a
real layer to prune instead of a padding op it mis-groups (see bench/pruning/shortcut.py).
"""

from __future__ import annotations

import torch
import torch.nn as nn


class ChannelShortcut(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError("a parameter-free shortcut cannot reduce channels")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        offset = (out_channels - in_channels) // 2  # option A pads equally on both sides
        self.register_buffer("src", torch.arange(in_channels), persistent=False)
        self.register_buffer("dst", torch.arange(in_channels) + offset, persistent=False)
        self.refresh()

    def refresh(self) -> None:
        """Recompute the fast paths after the routing changed (pruning)."""
        n = self.src.numel()
        self.is_identity = (
            self.in_channels == self.out_channels == n
            and bool((self.src == torch.arange(n, device=self.src.device)).all())
            and bool((self.dst == self.src).all())
        )
        # Every output channel fed: a single gather in output order, no zero-fill needed.
        self.covers_output = n == self.out_channels and bool((self.dst.sort().values == torch.arange(n, device=self.dst.device)).all())
        self.register_buffer("gather", self.src[self.dst.argsort()], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.is_identity:
            # A fresh tensor (not `x` itself) so graph tracers see this module's output as its own.
            return x.clone()
        if self.covers_output:
            return x.index_select(1, self.gather)
        out = x.new_zeros(x.shape[0], self.out_channels, x.shape[2], x.shape[3])
        return out.index_copy_(1, self.dst, x.index_select(1, self.src))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}, routed={self.src.numel()}"


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = ChannelShortcut(in_channels, out_channels, stride)
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        self.depth = depth
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        width_in = 16
        stages = []
        for stage, width in enumerate((16, 32, 64)):
            layers = []
            for b in range(blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(BasicBlock(width_in, width, width, stride))
                width_in = width
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    # --- hints for pruning adapters -------------------------------------------------------------
    def _blocks(self):
        for s, stage in enumerate((self.layer1, self.layer2, self.layer3), start=1):
            for b in range(len(stage)):
                yield s, f"layer{s}.{b}"

    def feature_maps(self) -> dict[str, str]:
        """Conv → module whose output is that conv's feature map (as HRankPlus hooks them):
        the stem's ReLU, each block's first ReLU, and for conv2 the block output after the add."""
        maps = {"conv1": "relu"}
        for _, blk in self._blocks():
            maps[f"{blk}.conv1"] = f"{blk}.relu1"
            maps[f"{blk}.conv2"] = f"{blk}.relu2"
        return maps

    def compress_rate_layout(self) -> list[list[str]]:
        """HRankPlus's compress-rate indexing (its `adapt_channel`): entry 0 the stem, entries 1..2
        the block outputs of stages 1 and 2 (stage 3's outputs feed the classifier and are never
        pruned), then one entry per block for its first conv, in order."""
        layout: list[list[str]] = [["conv1"]]
        for stage in (1, 2):
            layout.append([f"{blk}.conv2" for s, blk in self._blocks() if s == stage])
        layout.extend([f"{blk}.conv1"] for _, blk in self._blocks())
        return layout


def _factory(depth: int):
    def build(num_classes: int = 10, in_channels: int = 3, **_: object) -> CifarResNet:
        return CifarResNet(depth, num_classes, in_channels)

    build.__name__ = f"resnet{depth}"
    build.__doc__ = f"CIFAR ResNet-{depth} with option-A shortcuts."
    return build


resnet20, resnet32, resnet44, resnet56, resnet110 = (_factory(d) for d in (20, 32, 44, 56, 110))
