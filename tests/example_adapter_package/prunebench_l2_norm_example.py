"""L2-norm filter pruning, shipped as a package of its own (prunebench's out-of-tree example).

Li, Kadav, Durdanovic, Samet & Graf, "Pruning Filters for Efficient ConvNets", ICLR 2017
(https://arxiv.org/abs/1608.08710), rank filters by the L1 norm of their weights and report that
the L2 norm behaves alike; this adapter scores each conv filter by its L2 norm and the filters with
the smallest norms are removed.

Structured. Hyperparameters: none.

No `@ADAPTERS.register` here: the `prunebench.adapters` entry point in pyproject.toml registers the
class when prunebench first looks an adapter up, so installing the package is all it takes.
"""

from __future__ import annotations

from bench.pruning import Adapter, PruningContext, Scores


class L2NormExample(Adapter):
    name = "l2-norm-example"
    paper = "Li et al. 2017 (PFEC), L2 variant"

    def score(self, ctx: PruningContext) -> Scores:
        return {name: m.weight.detach().flatten(1).norm(dim=1) for name, m in ctx.layers.items()}
