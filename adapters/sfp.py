"""SFP: soft filter pruning.

He, Kang, Dong, Fu & Yang, "Soft Filter Pruning for Accelerating Deep Convolutional Neural
Networks", IJCAI 2018 (https://arxiv.org/abs/1808.06866; code: https://github.com/he-y/soft-filter-pruning).
Filters are ranked by their Lp norm; at the end of every training epoch the lowest-ranked filters of
each layer are set to zero but stay in the network, so they keep receiving gradients and may grow
back ("soft"); after the last epoch the filters that are zero are removed for real.

Structured, layerwise. It prunes *during* retraining: the network retrains under the protocol at
full width with the soft-pruning hook, starting from the dense weights (the paper's "pretrained"
setting), and the core removes the channels after the last epoch. Its random control is pruned to
the same per-layer structure up front and retrained under the same protocol.

Hyperparameters (paper defaults): `norm=2` (L2 norm of each filter), `interval=1` (soft-prune
every epoch; the reference code's `epoch_prune`). The pruning rate is the target (the paper prunes
every conv layer at one rate, e.g. 30% on CIFAR ResNets; `--ratio 0.3`).

Differences from the reference code: channels coupled by a residual addition form one group here and
are zeroed (and removed) together, scored by the mean of their convs' norms (the reference zeroes
each conv independently). The final removal is physical and the reported test accuracy is that of
the small network. Like the reference, only conv filters are zeroed, so while training a zeroed
filter's BatchNorm shift still feeds a constant to the next layer (and a residual channel still
carries its shortcut); removing the channel drops both. Where the target prunes residual-stream
channels (the default layout of the CIFAR ResNets) this changes the network a lot: on digits,
ResNet-20 at ratio 0.5 under clr-40 validated at 97-99% soft but tested at 10-74% after removal.
Validation (and so best-epoch selection) sees the soft network. `--iterations` does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from bench.errors import BenchError
from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores, SoftPruner, TrainingHook


@dataclass(frozen=True)
class SFPHparams:
    norm: int = 2
    interval: int = 1


class SoftPruningHook(TrainingHook):
    """Zero the lowest-norm filters before training (as the reference code does), after every
    `interval`-th epoch and after the last one."""

    def __init__(self, pruner: SoftPruner, interval: int):
        self.pruner, self.interval = pruner, interval

    def before_training(self, model: nn.Module) -> None:
        self.pruner.zero(model)

    def after_epoch(self, model: nn.Module, epoch: int, last: bool) -> None:
        if last or (epoch + 1) % self.interval == 0:
            self.pruner.zero(model)


@ADAPTERS.register("sfp")
class SoftFilterPruning(Adapter):
    name = "sfp"
    paper = "He et al. 2018 (SFP)"
    Hparams = SFPHparams

    def __init__(self, hparams: SFPHparams | None = None):
        super().__init__(hparams)
        if self.hparams.norm not in (1, 2) or self.hparams.interval < 1:
            raise BenchError(f"sfp: need norm 1 or 2 and interval >= 1, got {self.hparams}")

    def score(self, ctx: PruningContext) -> Scores:
        p = self.hparams.norm
        return {name: m.weight.detach().flatten(1).norm(p=p, dim=1) for name, m in ctx.layers.items()}

    def retrain_hook(self, pruner: SoftPruner) -> TrainingHook:
        return SoftPruningHook(pruner, self.hparams.interval)
