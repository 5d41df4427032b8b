"""HRankPlus: filter pruning by the average rank of feature maps.

Lin, Ji, Wang, Zhang, Zhang, Tian & Shao, "HRank: Filter Pruning using High-Rank Feature Map",
CVPR 2020 (https://arxiv.org/abs/2002.10179); HRankPlus is the authors' improved release
(https://github.com/lmbxmu/HRankPlus). A filter whose output feature maps have low matrix rank
carries little information: for every channel the rank of its HxW map is averaged over the images
of a few calibration batches, and the lowest-ranked channels are removed.

Structured. Feature maps are taken where HRankPlus hooks them (after the ReLU that follows each
conv; for a residual block's second conv, the block output after the addition) when the model
declares them, and at the conv output otherwise. Per-layer rates come from HRankPlus compress-rate
strings (`--compress-rate "[0.]+[0.18]*29"` for ResNet-56) with HRankPlus's layer mapping.

Hyperparameters (HRankPlus defaults): `calibration_batches=5` batches of `batch_size=128` images.
Differences from the reference code: calibration images are not augmented (HRankPlus draws them from
its augmented training loader), and tied ranks keep the lower channel index (numpy's unstable sort
there). Neither changes the method; both make the result a pure function of the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores


@dataclass(frozen=True)
class HRankPlusHparams:
    calibration_batches: int = 5
    batch_size: int = 128


@ADAPTERS.register("hrankplus")
class HRankPlus(Adapter):
    name = "hrankplus"
    paper = "Lin et al. 2020 (HRank / HRankPlus)"
    needs_calibration = True
    Hparams = HRankPlusHparams

    def calibration_size(self) -> tuple[int, int]:
        return self.hparams.calibration_batches, self.hparams.batch_size

    def score(self, ctx: PruningContext) -> Scores:
        totals: dict[str, torch.Tensor] = {}
        images = 0

        def hook_for(conv: str):
            def hook(_module, _inputs, output):
                ranks = torch.linalg.matrix_rank(output.detach().float()).sum(0)  # (N, C, H, W) → per channel
                totals[conv] = totals.get(conv, 0) + ranks.double()

            return hook

        handles = [
            ctx.model.get_submodule(ctx.feature_maps[conv]).register_forward_hook(hook_for(conv)) for conv in ctx.layers
        ]
        try:
            with torch.no_grad():
                for inputs, _ in ctx.calibration:
                    ctx.model(inputs)
                    images += inputs.shape[0]
        finally:
            for h in handles:
                h.remove()
        return {conv: total / max(images, 1) for conv, total in totals.items()}
