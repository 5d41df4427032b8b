"""VGG-16 with batch norm, CIFAR variant (Simonyan & Zisserman 2015; as used by PFEC, Li et al. 2017,
and HRankPlus, Lin et al. 2020): thirteen 3x3 convs, each followed by BN and ReLU, max-pooling after
conv 2, 4, 7, 10, then a 512-512-classes classifier with BN."""

from __future__ import annotations

import torch
import torch.nn as nn

from bench.models.init import kaiming_convs

CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


class CifarVGG(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, cfg=CFG):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for i, v in enumerate(cfg):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers += [nn.Conv2d(width, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            width = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # 2x2 → 1 on CIFAR as in the reference code; any input size works
        self.classifier = nn.Sequential(
            nn.Linear(width, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, num_classes)
        )
        self.init_parameters()

    def init_parameters(self) -> None:
        """Also the Scratch protocols' reinitialization of a pruned copy (bench.models.init)."""
        kaiming_convs(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    def _convs(self) -> list[str]:
        return [f"features.{i}" for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d)]

    def feature_maps(self) -> dict[str, str]:
        """Where HRankPlus ranks each conv: after its ReLU, or after the max-pool that follows it."""
        maps = {}
        for name in self._convs():
            relu = int(name.split(".")[1]) + 2
            after = relu + 1 if relu + 1 < len(self.features) and isinstance(self.features[relu + 1], nn.MaxPool2d) else relu
            maps[name] = f"features.{after}"
        return maps

    def pruning_layouts(self) -> dict[str, dict]:
        """One layout (no residual stream to couple): HRankPlus's VGG-16 indexing."""
        return {
            "hrankplus": {
                "description": "HRankPlus: one compress-rate entry for each of the first 12 convs; the 13th "
                "feeds the classifier and stays dense",
                "entries": [[name] for name in self._convs()[:12]],
            }
        }


def vgg16(num_classes: int = 10, in_channels: int = 3, **_: object) -> CifarVGG:
    """VGG-16 (BN), CIFAR variant."""
    return CifarVGG(num_classes, in_channels)
