"""torch-pruning support for the CIFAR ResNet's parameter-free `ChannelShortcut`.

torch-pruning 1.6 traces the zero-padding shortcut of the standard CIFAR ResNet as an anonymous
pad/slice and mis-groups channels across it: pruning block outputs (as HRankPlus does) yields a model
that fails at the classifier. Registered as a customized layer, the shortcut is pruned by this class
instead: its input and output channels are independent (no intra-layer dependency), and pruning
either side just drops the routes that touch removed channels and renumbers the rest.

`check_structured_support` refuses, with a one-line BenchError, the layers torch-pruning's dependency
graph cannot prune correctly, before anything is traced or removed.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch_pruning as tp

from bench.errors import BenchError
from bench.models.cifar_resnet import ChannelScatter, ChannelShortcut


def _keep_map(total: int, removed: Sequence[int]) -> torch.Tensor:
    """old index → new index, -1 for removed channels."""
    mapping = torch.full((total,), -1, dtype=torch.long)
    kept = sorted(set(range(total)) - set(int(i) for i in removed))
    mapping[kept] = torch.arange(len(kept))
    return mapping


class ChannelShortcutPruner(tp.pruner.function.BasePruningFunc):
    TARGET_MODULES = ChannelShortcut

    def _reroute(self, layer: ChannelShortcut, side: str, removed: Sequence[int]) -> ChannelShortcut:
        total = layer.in_channels if side == "src" else layer.out_channels
        mapping = _keep_map(total, removed).to(layer.src.device)
        renumbered = mapping[getattr(layer, side)]
        alive = renumbered >= 0
        layer.src = (renumbered if side == "src" else layer.src)[alive]
        layer.dst = (renumbered if side == "dst" else layer.dst)[alive]
        if side == "src":
            layer.in_channels = total - len(set(removed))
        else:
            layer.out_channels = total - len(set(removed))
        layer.refresh()
        return layer

    def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        return self._reroute(layer, "dst", idxs)

    def prune_in_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        return self._reroute(layer, "src", idxs)

    def get_out_channels(self, layer: nn.Module) -> int:
        return layer.out_channels

    def get_in_channels(self, layer: nn.Module) -> int:
        return layer.in_channels


class ChannelScatterPruner(tp.pruner.function.BasePruningFunc):
    """A full-width scatter's two sides are independent channel sets. It is never pruned through the
    dependency graph: the engine removes a scattered conv's channels itself (the removed channels'
    constants have to be measured), so the graph only needs to stop at it."""

    TARGET_MODULES = ChannelScatter

    def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        raise BenchError("a full-width residual stream is not pruned through its scatter")

    prune_in_channels = prune_out_channels

    def get_out_channels(self, layer: nn.Module) -> int:
        return layer.fill.numel()

    def get_in_channels(self, layer: nn.Module) -> int:
        return layer.index.numel()


CUSTOM_PRUNERS = {ChannelShortcut: ChannelShortcutPruner(), ChannelScatter: ChannelScatterPruner()}


def check_structured_support(model: nn.Module) -> None:
    """Grouped convolutions (1 < groups, not depthwise: RegNet, ResNeXt, depthwise with a channel
    multiplier) couple channels within each group, which torch-pruning 1.6's low-level pruning
    functions ignore: removing arbitrary channels either crashes or silently rewires the surviving
    filters to the wrong inputs. Ordinary (groups=1) and depthwise (groups = in = out) convs are fine."""
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.conv._ConvNd) and m.groups > 1 and not (m.groups == m.in_channels == m.out_channels):
            raise BenchError(
                f"structured pruning does not support grouped convolutions ({name}: groups={m.groups}, "
                f"{m.in_channels}->{m.out_channels} channels); use an unstructured adapter (e.g. global-magnitude) for this model"
            )
