"""HRankPlus: filter pruning by the average rank of feature maps.

Lin, Ji, Wang, Zhang, Zhang, Tian & Shao, "HRank: Filter Pruning using High-Rank Feature Map",
CVPR 2020 (https://arxiv.org/abs/2002.10179); HRankPlus is the authors' improved release
(https://github.com/lmbxmu/HRankPlus). A filter whose output feature maps have low matrix rank
carries little information: for every channel the rank of its HxW map is averaged over the images
of a few calibration batches, and the lowest-ranked channels are removed.

Structured, layerwise. Default layout `hrankplus` (checked against HRankPlus's `adapt_channel`,
model constructors and `evaluate_cifar.py` loaders):
- CIFAR ResNets: compress-rate entry 0 the stem, entries 1-2 every block output of stages 1 and 2
  (stage 3 feeds the classifier and stays dense), then one entry per block's first conv. Each block
  keeps its own top-ranked output channels and the pruned network's shortcuts add by *position* in
  the pruned widths (HRankPlus pads `x` by the pruned widths, cropping when the input is wider), so
  the random control keeps exactly as many identity routes as the method.
- VGG-16: one entry for each of the first 12 convs; the 13th stays dense.
- DenseNet-40: one entry per conv, but the stem entry prunes nothing and a transition's rate applies
  to its pruned input width (`floor(C_in * (1 - r))`), as HRankPlus's `Transition` does.
Kept counts are `int(n * (1 - r))`.

Ranks are taken where HRankPlus's `rank_generation.py` hooks them (`ctx.feature_maps`): after the
BN + ReLU that follow each conv; for a ResNet block's second conv, the block output after the
addition; for VGG's stage-final convs, after the max-pool; for DenseNet, at the ReLU of the layer
that reads the conv next (after that layer's BN), on this conv's channels. Models without hints are
ranked after the BatchNorm that reads each conv (and the activation after it).

Hyperparameters (HRankPlus defaults): `calibration_batches=5` batches of `batch_size=128` images.

Differences from the reference code, on purpose:
- Calibration images are not augmented and are the same for every layer (HRankPlus ranks each layer
  on its own pass over freshly shuffled, augmented training batches); tied ranks keep the lower
  channel index (numpy's unstable argsort there). Both make the result a pure function of the seed.
- The pruned network inherits the dense BatchNorm parameters and statistics. HRankPlus's loaders copy
  only conv weights (and the ResNet classifier) and leave every BatchNorm, VGG's classifier and the
  DenseNet stem at their initialization; here every method starts its retraining from the dense
  weights, so that only the criterion differs between methods and the protocol does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores


@dataclass(frozen=True)
class HRankPlusHparams:
    calibration_batches: int = 5
    batch_size: int = 128


@ADAPTERS.register()
class HRankPlus(Adapter):
    name = "hrankplus"
    version = "2"
    paper = "Lin et al. 2020 (HRank / HRankPlus)"
    layout = "hrankplus"
    needs_calibration = True
    Hparams = HRankPlusHparams

    def calibration_size(self) -> tuple[int, int]:
        return self.hparams.calibration_batches, self.hparams.batch_size

    def score(self, ctx: PruningContext) -> Scores:
        totals: dict[str, torch.Tensor] = {}
        images = 0

        def sink_for(conv: str):
            def sink(feature_map: torch.Tensor) -> None:
                ranks = torch.linalg.matrix_rank(feature_map.detach().float()).sum(0)  # (N, C, H, W) → per channel
                totals[conv] = totals.get(conv, 0) + ranks.double()

            return sink

        handles = [ctx.feature_maps[conv].register(ctx.model, sink_for(conv)) for conv in ctx.layers]
        try:
            with torch.no_grad():
                for inputs, _ in ctx.calibration:
                    ctx.model(inputs)
                    images += inputs.shape[0]
        finally:
            for h in handles:
                h.remove()
        return {conv: total / max(images, 1) for conv, total in totals.items()}
