"""LAMP: layer-adaptive magnitude-based pruning.

Lee, Park, Mo, Ahn & Shin, "Layer-adaptive Sparsity for the Magnitude-based Pruning", ICLR 2021
(https://arxiv.org/abs/2010.07611; code https://github.com/jaeho-lee/layer-adaptive-sparsity).
With a layer's weights indexed in ascending order of magnitude, the LAMP score of weight u is
w_u^2 / sum_{v >= u} w_v^2: its squared magnitude over the squared magnitudes of itself and every
larger weight of the layer. One threshold on LAMP scores over all layers prunes the smallest
`ratio` of them, which gives each layer its own sparsity. Within a layer the order is the magnitude
order, and the largest weight of every layer scores exactly 1, so no layer is ever emptied.

Unstructured, global allocation (per-layer rates when given `--compress-rate`). Hyperparameters:
none (the paper's score has none).

Differences from the paper's code:
- The layers are the core's maskable layers, every conv weight (the convention of the other
  unstructured methods here); the paper's code also prunes the weights of linear layers.
- The code turns LAMP's global threshold into per-layer amounts and then prunes each layer by
  magnitude; ranking by the scores directly keeps the same weights (LAMP is monotone in magnitude
  within a layer) except among exact ties.
- Tied magnitudes are ordered by index (stable sort), so tied weights get distinct, deterministic
  scores; the code's unstable sort leaves that order to the sort. A layer of zeros scores 0.
- Own implementation rather than torch-pruning's: `LAMPImportance` is a structured importance (LAMP
  applied to channel groups' squared L2 norms, not to weights). Its `_lamp` normalizer (a copy of
  the paper code's `_normalize_scores`) is the paper's per-weight formula, but it forms each
  denominator as (layer total - prefix sum) and returns float32, so the largest weights' small
  denominators come out of a difference of large sums: on a 2.4M-weight layer the top score is off
  by about 1e-3 (and exceeds 1). Here the denominators are suffix sums accumulated from the largest
  weight down, in float64, with a stable sort. The tests check that both agree to float32 precision
  on a ResNet-20-sized layer.
"""

from __future__ import annotations

import torch

from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores


@ADAPTERS.register()
class LAMP(Adapter):
    name = "lamp"
    paper = "Lee et al. 2021 (LAMP)"
    kind = "unstructured"
    allocation = "global"

    def score(self, ctx: PruningContext) -> Scores:
        return {name: lamp_scores(m.weight) for name, m in ctx.layers.items()}


def lamp_scores(weight: torch.Tensor) -> torch.Tensor:
    """LAMP score of every entry of `weight` (float64, CPU, same shape)."""
    squared = weight.detach().double().cpu().flatten().pow(2)
    ordered, order = torch.sort(squared, stable=True)
    # sum_{v >= u} w_v^2 for every position u in ascending order, summed from the largest down.
    suffix = ordered.flip(0).cumsum(0).flip(0)
    ratio = torch.where(suffix > 0, ordered / suffix.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(ordered))
    scores = torch.empty_like(squared)
    scores[order] = ratio
    return scores.view(weight.shape)
