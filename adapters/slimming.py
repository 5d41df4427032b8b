"""Network slimming: channel importance from BatchNorm scale factors.

Liu, Li, Shen, Huang, Yan & Zhang, "Learning Efficient Convolutional Networks through Network
Slimming", ICCV 2017 (https://arxiv.org/abs/1708.06519; code: https://github.com/Eric-mingjie/network-slimming).
The dense network is trained with an L1 penalty on every BatchNorm scale factor (gamma), which
drives unimportant channels' scales towards zero; channels are then ranked by |gamma| with one
global threshold over all layers, and the smallest are removed.

Structured, global allocation (`--ratio` is the fraction of all prunable channels removed; the
per-layer widths follow from the threshold). Scores come from the BatchNorm that directly follows
each conv; a channel group coupled by a residual addition is scored by the mean |gamma| of its
convs' BatchNorms.

Hyperparameters (paper defaults): `sparsity=1e-4` (lambda, the paper's value for VGG on CIFAR and
the reference code's default; the paper uses 1e-5 for ResNet and DenseNet). The penalty is added
while prunebench trains the dense baseline, so slimming starts from its own baseline (cached apart,
recorded in the record's `dense.regularizer`), and its random control starts from that same
baseline. `sparsity=0` scores the shared baseline without the penalty; with `--checkpoint` the
user's weights are used as they are.

Differences from the reference code: the reference prunes pre-activation ResNets/DenseNets through
"channel selection" layers and keeps residual widths; here the post-activation models are pruned
physically, group by group. Each layer keeps at least one channel.
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


@ADAPTERS.register("slimming")
class NetworkSlimming(Adapter):
    name = "slimming"
    paper = "Liu et al. 2017 (network slimming)"
    allocation = "global"
    Hparams = SlimmingHparams

    def __init__(self, hparams: SlimmingHparams | None = None):
        super().__init__(hparams)
        if not self.hparams.sparsity >= 0:
            raise BenchError(f"slimming: sparsity must be >= 0, got {self.hparams.sparsity}")

    def score(self, ctx: PruningContext) -> Scores:
        if not ctx.norms:
            raise BenchError("slimming needs BatchNorm layers after the convs; this model has none")
        return {conv: bn.weight.detach().abs() for conv, bn in ctx.norms.items() if bn.weight is not None}

    def dense_hook(self) -> TrainingHook | None:
        return BatchNormL1Penalty(self.hparams.sparsity) if self.hparams.sparsity > 0 else None
