"""CIFAR ResNet-20/32/44/56/110 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

The standard CIFAR variant: a 3x3 stem with 16 channels, three stages of 16/32/64 channels with
(depth - 2) / 6 basic blocks each, and parameter-free shortcuts ("option A": identity, or
subsample + zero-pad where the width doubles). ResNet-56 has ~0.85 M parameters.

The shortcut is a module of its own (`ChannelShortcut`) that routes input channel `src[i]` to output
channel `dst[i]`. Densely it is exactly identity / zero padding. It makes each block's output channels
independent of its neighbours for torch-pruning (a real layer to prune instead of a padding op it
mis-groups, see bench/pruning/shortcut.py); once channels are removed the engine makes it add by
position, as HRankPlus's pruned ResNets do (`make_positional`).

Two slots are empty in the dense model and filled only by a full-width pruning layout (SFP's small
model, bench/pruning/layouts.py): `out_scatter` after a block's last BatchNorm (and `stem_scatter`
after the stem's), which puts the kept channels back into the full-width residual stream beside the
constants of the removed ones, and `conv2_offset`, the constant that removed channels of the block's
first conv still feed into its second.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from bench.models.init import kaiming_convs


class ChannelShortcut(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError("a parameter-free shortcut cannot reduce channels")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.dense_routes = in_channels  # identity routes of the dense network (see make_positional)
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

    def make_positional(self) -> None:
        """Add by position in the current widths, as a zero-padding shortcut built for the pruned
        widths does (HRankPlus's pruned ResNets): output j takes input j - (out - in) // 2 where that
        exists (a negative pad crops). The number of routes then depends only on the two widths."""
        left = (self.out_channels - self.in_channels) // 2
        dst = torch.arange(self.out_channels, device=self.src.device)
        src = dst - left
        alive = (src >= 0) & (src < self.in_channels)
        self.src, self.dst = src[alive], dst[alive]
        self.refresh()

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


class ChannelScatter(nn.Module):
    """`index.numel()` kept channels → `fill.numel()` channels: each kept channel at its index, every
    other channel at its constant `fill` value (what a zeroed filter's BatchNorm outputs)."""

    def __init__(self, index: torch.Tensor, fill: torch.Tensor):
        super().__init__()
        self.register_buffer("index", index.long())
        self.register_buffer("fill", fill.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fill.to(x.dtype).view(1, -1, 1, 1).repeat(x.shape[0], 1, x.shape[2], x.shape[3])
        return out.index_copy(1, self.index, x)

    def extra_repr(self) -> str:
        return f"{self.index.numel()} -> {self.fill.numel()}"

    def reset_parameters(self) -> None:
        """A fresh initialization (Scratch protocols) carries no constant of the trained network."""
        self.fill.zero_()


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.out_scatter: nn.Module = nn.Identity()
        self.register_buffer("conv2_offset", None)
        self.shortcut = ChannelShortcut(in_channels, out_channels, stride)
        self.relu2 = nn.ReLU(inplace=True)

    def reset_parameters(self) -> None:
        """Only the pruning offset is the block's own (its layers reset themselves): a fresh
        initialization carries no constant of the trained network."""
        if self.conv2_offset is not None:
            self.conv2_offset.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu1(self.bn1(self.conv1(x))))
        if self.conv2_offset is not None:
            out = out + self.conv2_offset
        out = self.out_scatter(self.bn2(out))
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
        self.stem_scatter: nn.Module = nn.Identity()
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
        self.init_parameters()

    def init_parameters(self) -> None:
        """Also the Scratch protocols' reinitialization of a pruned copy (bench.models.init)."""
        kaiming_convs(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.stem_scatter(self.bn1(self.conv1(x))))
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

    def pruning_layouts(self) -> dict[str, dict]:
        """The layouts of the methods' reference code (see bench/pruning/layouts.py), default first."""
        blocks = list(self._blocks())
        firsts = [[f"{blk}.conv1"] for _, blk in blocks]
        outputs = {s: [f"{blk}.conv2" for t, blk in blocks if t == s] for s in (1, 2, 3)}
        stages = [["conv1", *outputs[1]], outputs[2], outputs[3]]
        per_conv = [["conv1"]] + [[f"{blk}.conv{i}"] for _, blk in blocks for i in (1, 2)]
        return {
            "hrankplus": {
                "description": "HRankPlus: the stem, the block outputs of stages 1 and 2 (one rate per stage, "
                "each block its own channels) and every block's first conv; stage 3 feeds the classifier "
                "and stays dense; shortcuts add by position in the pruned widths",
                # HRankPlus's compress-rate indexing (its `adapt_channel`): entry 0 the stem, entries 1-2
                # the stage-1/2 block outputs, then one entry per block for its first conv, in order.
                "entries": [["conv1"], outputs[1], outputs[2], *firsts],
            },
            "block-internal": {
                "description": "PFEC / network slimming: only each block's first conv (the channels inside "
                "a block); the residual stream and the stem keep their width",
                "entries": firsts,
            },
            "full-width": {
                "description": "SFP / FPGM: every conv's filters (stem, both convs of every block) at one rate; "
                "the residual stream keeps its full width: a block's last conv (and the stem) put their "
                "kept channels back in place and each removed channel keeps its BatchNorm constant, so "
                "the small network computes what the zeroed one does",
                "entries": per_conv,
                "scattered": {
                    "conv1": ("bn1", "stem_scatter"),
                    **{f"{blk}.conv2": (f"{blk}.bn2", f"{blk}.out_scatter") for _, blk in blocks},
                },
                "offsets": {f"{blk}.conv2": f"{blk}.conv2_offset" for _, blk in blocks},
            },
            "stage-coupled": {
                "description": "Taylor (DepGraph-style): every conv; each stage's residual stream (stage 1 "
                "with the stem) is one channel set shared by its blocks; stage transitions add by position",
                "entries": [*stages, *firsts],
                "tied": stages,
            },
        }


def _factory(depth: int):
    def build(num_classes: int = 10, in_channels: int = 3, **_: object) -> CifarResNet:
        return CifarResNet(depth, num_classes, in_channels)

    build.__name__ = f"resnet{depth}"
    build.__doc__ = f"CIFAR ResNet-{depth} with option-A shortcuts."
    return build


resnet20, resnet32, resnet44, resnet56, resnet110 = (_factory(d) for d in (20, 32, 44, 56, 110))
