"""FPGM: filter pruning via the geometric median of a layer's filters.

He, Liu, Wang, Hu & Yang, "Filter Pruning via Geometric Median for Deep Convolutional Neural
Networks Acceleration", CVPR 2019 (https://arxiv.org/abs/1811.00250; code
https://github.com/he-y/filter-pruning-geometric-median). Filters near the geometric median of a
layer's filters are redundant: what they contribute can be represented by the others. As in the
paper (its relaxation of the geometric median) and its code, each filter is scored by the sum of its
distances to all filters of the same layer; the filters with the smallest sums, those closest to
the geometric median, are removed.

Structured, layerwise (the paper prunes every layer at the same rate; `--compress-rate` sets
per-layer rates). Default layout `full-width` on the CIFAR ResNets, as in the reference code (its
`Mask` zeroes the stem and both convs of every block, never the classifier): the residual stream
keeps its full width; a block's last conv (and the stem) put their kept channels back in place and
each removed channel keeps the constant its BatchNorm outputs, so the pruned network computes what
the zeroed network of the reference computes. The number removed is `int(n * r)` (the reference
truncates the count removed, not the count kept). Hyperparameters: `distance="l2"` (the paper's Euclidean distance between
flattened filters; "l1" and "cos", 1 - cosine similarity, are the distance types the paper's code
offers).

Differences from the paper and its code:
- One-shot scoring of a trained model. The reference zeroes the selected filters before training and
  after every epoch, and (unlike SFP) also zeroes their gradients at every step, so in practice the
  filters chosen first stay chosen (the maintainers confirm the indices do not change); here the model
  is scored once and the channels are removed, then retrained by the protocol; `--iterations K` of
  the core repeats the measurement. The removed channels' constants are frozen at their value when
  pruned (the reference keeps training those channels' BatchNorm shift).
- The reference's pruned ResNet (SFP's `index_add_` small model) drops the constants that removed
  channels of a block's first conv feed into its second conv; here they are kept (`conv2_offset`),
  so that the small network is exactly the zeroed one.
- The code's mixed mode ("FPGM-mix": prune some filters by norm first, `rate_norm` < 1) is left
  out; this is the paper's FPGM-only setting (`rate_norm=1`).
- The code selects its distance with `dist_type == "l2" or "l1"`, which is always true, so it always
  uses the Euclidean distance; "l1" and "cos" here compute what their names say.
- Not torch-pruning's `FPGMImportance`: it measures distances between |w|^p (p=2 by default), i.e.
  between squared magnitudes that lose the sign of every weight, not between the filters, and it
  also adds distances between the next layer's input-channel slices. On non-negative weights with
  p=1 it computes the same sums as `distance="l2"`; the tests check both facts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.errors import BenchError
from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores

DISTANCES = ("l2", "l1", "cos")


@dataclass(frozen=True)
class FPGMHparams:
    distance: str = "l2"  # or "l1", "cos"


@ADAPTERS.register()
class FPGM(Adapter):
    name = "fpgm"
    version = "2"
    paper = "He et al. 2019 (FPGM)"
    layout = "full-width"
    rounding = "removed"
    Hparams = FPGMHparams

    def __init__(self, hparams: FPGMHparams | None = None):
        super().__init__(hparams)
        if self.hparams.distance not in DISTANCES:
            raise BenchError(f"fpgm: distance must be one of {', '.join(DISTANCES)}, got {self.hparams.distance!r}")

    def score(self, ctx: PruningContext) -> Scores:
        return {name: distance_sums(m.weight, self.hparams.distance) for name, m in ctx.layers.items()}


def distance_sums(weight: torch.Tensor, distance: str = "l2") -> torch.Tensor:
    """Per output filter: the sum of its distances to every filter of the layer (float64, CPU)."""
    w = weight.detach().flatten(1).double().cpu()
    if distance == "cos":
        unit = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
        dist = (1.0 - unit @ unit.T).clamp_min(0.0)
    else:
        # Exact pairwise differences (not the |a|^2 + |b|^2 - 2ab shortcut, which loses precision).
        dist = torch.cdist(w, w, p=2.0 if distance == "l2" else 1.0, compute_mode="donot_use_mm_for_euclid_dist")
    return dist.sum(1)
