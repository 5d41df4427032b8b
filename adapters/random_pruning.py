"""Random pruning: the control every method is compared with.

Liu et al., "Rethinking the Value of Network Pruning", ICLR 2019 (https://arxiv.org/abs/1810.05270) and
Le & Hua, "Network Pruning That Matters", ICLR 2021 (https://openreview.net/forum?id=Cb54AMqHQFP):
a randomly pruned network with the same per-layer structure, retrained with the same schedule, is the
baseline a pruning criterion has to beat.

Structured or unstructured (hyperparameter `kind`). Scores are i.i.d. uniform draws from the run's
seeded generator. Matched to another method's result, the core keeps exactly that result's number of
channels (or weights) per layer *in that result's layout* (the same layers, the same residual
coupling, the same positional shortcuts or full-width scatters), so only *which* channels survive is
random and the control keeps exactly as many identity routes as the method. On its own it prunes in
the model's default layout (`hrankplus` on the CIFAR ResNets).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.errors import BenchError
from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores


@dataclass(frozen=True)
class RandomHparams:
    kind: str = "structured"  # or "unstructured": random weights instead of random channels


@ADAPTERS.register()
class RandomPruning(Adapter):
    name = "random"
    version = "2"
    paper = "Liu et al. 2019; Le & Hua 2021"
    Hparams = RandomHparams

    def __init__(self, hparams: RandomHparams | None = None):
        super().__init__(hparams)
        if self.hparams.kind not in ("structured", "unstructured"):
            raise BenchError(f"random: kind must be 'structured' or 'unstructured', got {self.hparams.kind!r}")
        self.kind = self.hparams.kind

    def score(self, ctx: PruningContext) -> Scores:
        shape = (lambda m: (m.weight.shape[0],)) if self.kind == "structured" else (lambda m: m.weight.shape)
        return {name: torch.rand(shape(m), generator=ctx.generator) for name, m in ctx.layers.items()}
