"""Network slimming: channel importance from BatchNorm scale factors.

Liu, Li, Shen, Huang, Yan & Zhang, "Learning Efficient Convolutional Networks through Network
Slimming", ICCV 2017 (https://arxiv.org/abs/1708.06519; code: https://github.com/Eric-mingjie/network-slimming).
The dense network is trained with an L1 penalty on every BatchNorm scale factor (gamma), which
drives unimportant channels' scales towards zero; channels are then ranked by |gamma| with one
global threshold over all layers, and the smallest are removed.

Structured, global allocation (`--ratio` is the fraction of the layout's channels removed; the
per-layer widths follow from the threshold). Default layout `block-internal` on the CIFAR ResNets
(checked against `resprune.py`, which prunes only the channels inside a block and keeps the residual
stream, the stem and every block output at full width); other models: their default layout.

Each channel is scored by |gamma| of the BatchNorms that normalize it (`ctx.normalized_by`): in a
post-activation network the one BatchNorm after its conv; in DenseNet (pre-activation) every later
layer's BatchNorm reads the channel, and the score is the largest of those |gamma|. The reference
(`denseprune.py`) lets each layer's BatchNorm select its own inputs, so a channel disappears from
the network only when every reader drops it, i.e. when its largest |gamma| is below the threshold:
at a given threshold, removing output channels by the largest |gamma| removes exactly the channels
the reference removes everywhere. A layer whose convs no BatchNorm normalizes (e.g. squeeze-and-
excitation convs) cannot be scored and is an error.

Hyperparameters (paper defaults): `sparsity=1e-4` (lambda, the paper's value for VGG on CIFAR and
the reference code's default; the paper uses 1e-5 for ResNet and DenseNet). The penalty is added
while prunebench trains the dense baseline, so slimming starts from its own baseline (cached apart,
recorded in the record's `dense.regularizer`), and its random control starts from that same
baseline. `sparsity=0` scores the shared baseline without the penalty; with `--checkpoint` the
user's weights are used as they are.

Differences from the reference code:
- The reference's percentile counts every BatchNorm's gamma (`thre = sorted[int(total * percent)]`),
  including those whose channels it only selects or never removes (pre-activation bn1, the final
  BN); here `--ratio` is the fraction of the prunable channels removed, so it states the size.
- The reference prunes pre-activation ResNets and DenseNets by selecting each layer's *inputs*
  (`channel_selection`): a channel can be kept by one reader and dropped by another, and a
  pre-activation block's bn1 selects which residual channels feed its first conv. Here channels are
  removed from the network physically (post-activation ResNets have no BatchNorm before a block's
  first conv), so a channel is kept or removed for all its readers.
- Each layer keeps at least one channel (the reference can empty a layer and fail).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from bench.errors import BenchError
from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores, TrainingHook


@dataclass(frozen=True)
class SlimmingHparams:
    sparsity: float = 1e-4


class BatchNormL1Penalty(TrainingHook):
    """Adds the subgradient of `sparsity * sum |gamma|` over every BatchNorm to the gradients."""

    def __init__(self, sparsity: float):
        self.sparsity = sparsity

    def identity(self) -> dict:
        return {"penalty": "l1 on batchnorm scales", "sparsity": self.sparsity}

    @torch.no_grad()
    def after_backward(self, model: nn.Module) -> None:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.weight is not None:
                if module.weight.grad is not None:
                    module.weight.grad.add_(torch.sign(module.weight), alpha=self.sparsity)


@ADAPTERS.register()
class NetworkSlimming(Adapter):
    name = "slimming"
    version = "2"
    paper = "Liu et al. 2017 (network slimming)"
    layout = "block-internal"
    allocation = "global"
    # No BatchNorm after ConvNeXt's convs, none after MobileNetV3's squeeze-and-excitation convs:
    # nothing to score there (never a silent 0).
    refuses = ("timm:convnext_atto", "timm:mobilenetv3_small_050")
    Hparams = SlimmingHparams

    def __init__(self, hparams: SlimmingHparams | None = None):
        super().__init__(hparams)
        if not self.hparams.sparsity >= 0:
            raise BenchError(f"slimming: sparsity must be >= 0, got {self.hparams.sparsity}")

    def score(self, ctx: PruningContext) -> Scores:
        scores = {}
        for conv in ctx.layers:
            readers = [bn.weight.detach().abs()[list(channels)] for bn, channels in ctx.normalized_by.get(conv, []) if bn.weight is not None]
            if readers:
                scores[conv] = torch.stack(readers).amax(0)
        if not scores:
            raise BenchError("slimming needs BatchNorm layers that normalize the convs' channels; this model has none")
        return scores

    def dense_hook(self) -> TrainingHook | None:
        return BatchNormL1Penalty(self.hparams.sparsity) if self.hparams.sparsity > 0 else None
