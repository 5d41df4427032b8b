"""Magnitude-based weight pruning (MWP).

Han, Pool, Tran & Dally, "Learning both Weights and Connections for Efficient Neural Networks",
NeurIPS 2015 (https://arxiv.org/abs/1506.02626), in the one-shot global form used by Liu et al. 2019
and Le & Hua 2021: every conv weight is ranked by |w| across all layers together and the smallest
`ratio` of them are masked to zero; the mask stays fixed through retraining.

Unstructured. No hyperparameters (global threshold; per-layer rates when given `--compress-rate`).
"""

from __future__ import annotations

from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores


@ADAPTERS.register()
class GlobalMagnitude(Adapter):
    name = "global-magnitude"
    paper = "Han et al. 2015"
    kind = "unstructured"
    allocation = "global"

    def score(self, ctx: PruningContext) -> Scores:
        return {name: m.weight.detach().abs() for name, m in ctx.layers.items()}
