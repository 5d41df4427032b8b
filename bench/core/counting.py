"""Parameters and FLOPs of the real (pruned) model, measured with fvcore.

Convention (fvcore's): one fused multiply-add counts as ONE FLOP, so a 3x3 conv with C_in inputs and
C_out outputs on an HxW map costs 9*C_in*C_out*H*W FLOPs. Only compute-bound operators fvcore knows
(convs, linears, matmuls, norms, pooling) are counted; element-wise ops and the CIFAR ResNet's
channel-routing shortcut are free.

For unstructured pruning the masked weights are still stored, so parameters are counted as unmasked
weights and each masked layer's FLOPs are scaled by its density (what a sparse kernel would do).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn
from fvcore.nn import FlopCountAnalysis

FLOP_CONVENTION = "fvcore: one multiply-add = one FLOP"


@dataclass(frozen=True)
class Counts:
    params: int
    flops: int

    def to_dict(self) -> dict[str, int]:
        return {"params": self.params, "flops": self.flops}


def count(model: nn.Module, example_inputs: torch.Tensor, masks: dict[str, torch.Tensor] | None = None) -> Counts:
    """Params and FLOPs for one input of `example_inputs`' shape (batch of 1)."""
    masks = masks or {}
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # fvcore's tracer warns about jit deprecation and skipped ops
            analysis = FlopCountAnalysis(model, example_inputs[:1])
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            by_module = analysis.by_module()
            flops = float(analysis.total())
    finally:
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    for name, mask in masks.items():
        pruned = int((~mask.bool()).sum())
        params -= pruned
        flops -= by_module.get(name, 0) * pruned / mask.numel()
    return Counts(params=int(params), flops=int(round(flops)))
