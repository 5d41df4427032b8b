"""Any Torch-Pruning importance as a prunebench adapter.

Fang, Ma, Song, Mi & Wang, "DepGraph: Towards Any Structural Pruning", CVPR 2023
(https://arxiv.org/abs/2301.12900; code: https://github.com/VainF/Torch-Pruning). Torch-Pruning's
importance classes (`torch_pruning.importance.*`) score a dependency group: every layer whose channels
are removed with a conv's output channels, aggregated into one score per channel. This adapter hands
each prunable conv's group, taken from the core's own dependency graph (`ctx.graph`, built with
prunebench's pruners for the CIFAR ResNet's channel-routing shortcut and full-width scatters, which a
plain graph mis-groups), to the importance named by `importance`, so a Torch-Pruning user compares
their criterion under prunebench's protocols and random controls with one flag:

    bench evaluate --adapter tp --hp importance=GroupMagnitudeImportance --speedup 4

Structured, layerwise (Torch-Pruning's default, `global_pruning=False`: each layer removes the same
fraction), default layout `stage-coupled` (each ResNet stage's residual stream is one channel set, as
Torch-Pruning's dependency graph couples it). Hyperparameters: `importance` (a class name in
`torch_pruning.importance` whose constructor needs no arguments), and for the gradient-based ones
(Taylor, Hessian) `calibration_batches` and `batch_size` of training data whose loss gradients they
read. Importances that need data in other forms (ActivationImportance, OBDC) are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torch_pruning as tp

from bench.errors import BenchError, did_you_mean
from bench.pruning import ADAPTERS, Adapter, PruningContext, Scores

# Importances that read the gradients of the loss (accumulated in .grad by backward passes).
GRADIENT_BASED = ("TaylorImportance", "GroupTaylorImportance", "HessianImportance", "GroupHessianImportance")
# Importances that need more than a group and gradients (activations or curvature statistics collected
# by hooks of their own): not supported here.
UNSUPPORTED = ("ActivationImportance", "OBDCImportance", "Importance", "RandomImportance")  # random: --adapter random


def importance_names() -> list[str]:
    return sorted(n for n in dir(tp.importance) if n.endswith("Importance") and n not in UNSUPPORTED
                  and isinstance(getattr(tp.importance, n), type))


@dataclass(frozen=True)
class TorchPruningHparams:
    importance: str = "GroupMagnitudeImportance"
    calibration_batches: int = 4  # gradient-based importances only
    batch_size: int = 64


@ADAPTERS.register()
class TorchPruningImportance(Adapter):
    name = "tp"
    version = "1"
    paper = "Fang et al. 2023 (DepGraph / Torch-Pruning importances)"
    layout = "stage-coupled"
    Hparams = TorchPruningHparams

    def __init__(self, hparams: TorchPruningHparams | None = None):
        super().__init__(hparams)
        h = self.hparams
        if h.importance not in importance_names():
            hint = did_you_mean(h.importance, importance_names()) or f" (supported: {', '.join(importance_names())})"
            raise BenchError(f"tp: {h.importance!r} is not a torch_pruning.importance class this adapter supports{hint}")
        if h.calibration_batches < 1 or h.batch_size < 1:
            raise BenchError("tp: calibration_batches and batch_size must be positive")
        # Instance attributes: whether scoring reads data and gradients depends on the importance chosen.
        self.needs_calibration = self.needs_gradients = h.importance in GRADIENT_BASED
        try:
            self.importance = getattr(tp.importance, h.importance)()
        except TypeError as exc:
            raise BenchError(f"tp: {h.importance} needs constructor arguments this adapter does not pass ({exc})") from None

    def calibration_size(self) -> tuple[int, int]:
        return self.hparams.calibration_batches, self.hparams.batch_size

    def score(self, ctx: PruningContext) -> Scores:
        if ctx.graph is None:
            raise BenchError("tp scores torch-pruning dependency groups: it is a structured adapter")
        if self.needs_gradients:
            self._accumulate_gradients(ctx)
        try:
            scores = {}
            for name, conv in ctx.layers.items():
                group = ctx.graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=list(range(conv.out_channels)))
                with torch.no_grad():
                    value = self.importance(group)
                if value is None:  # e.g. BNScaleImportance in a group without a BatchNorm
                    raise BenchError(f"tp: {self.hparams.importance} finds nothing to score in the group of {name}")
                scores[name] = value.detach().float().cpu()
            return scores
        finally:
            if self.needs_gradients:
                ctx.model.zero_grad(set_to_none=True)  # leave the model as it was given

    def _accumulate_gradients(self, ctx: PruningContext) -> None:
        if not ctx.calibration:
            raise BenchError(f"tp: {self.hparams.importance} needs calibration batches to compute gradients")
        ctx.model.zero_grad(set_to_none=True)
        hessian = "Hessian" in self.hparams.importance
        with torch.enable_grad():
            for inputs, labels in ctx.calibration:
                if hessian:  # Torch-Pruning's Hessian importances accumulate per-sample squared gradients
                    self.importance.zero_grad()
                    for x, y in zip(inputs, labels):
                        ctx.model.zero_grad(set_to_none=True)
                        F.cross_entropy(ctx.model(x[None]), y[None]).backward()
                        self.importance.accumulate_grad(ctx.model)
                else:
                    F.cross_entropy(ctx.model(inputs), labels).backward()
