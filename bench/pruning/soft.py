"""Soft pruning: the `SoftPruner` handed to retrain hooks (SFP, FPGM). It zeroes what the adapter would
remove now and leaves it free to grow back; the network keeps its shape until the end, when the
zeroed channels are removed for real (`PruneJob.prune`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from bench.errors import BenchError
from bench.pruning.apply import layout_for, plan
from bench.pruning.layouts import Layout, model_layouts
from bench.pruning.surgery import zero_filters
from bench.pruning.units import Units

if TYPE_CHECKING:  # the job's type only: job.py calls this module
    from bench.pruning.job import PruneJob

__all__ = ["ZeroingPruner", "check_soft_layout"]


class ZeroingPruner:
    """Zero, in place, the conv filters (or weights) the job's adapter would remove now from the job's
    model (trained at full width), leaving them free to grow back. Filters are zeroed in every conv of
    a unit, as removing the unit would remove them; like SFP's reference code, BatchNorm parameters are
    left alone. Structured soft pruning needs a full-width layout, where removing the zeroed channels
    at the end computes exactly what the zeroed network computes.
    `mask_gradients` zeroes the gradients of what the last `zero` zeroed (FPGM's reference code, SFP's
    successor, does so before every optimizer step); after a resume, before any `zero` in this
    process, it takes what the current scores would remove: the zeroed filters, which masked move only
    by their momentum and stay far below the norms of the filters kept."""

    def __init__(self, job: PruneJob, *, recalibration=()):
        self.job = job
        self.model = job.model
        self.recalibration = list(recalibration)  # training batches the BatchNorm statistics are re-estimated on
        resolved = layout_for(job.model, job.model_name, job.adapter, job.layout)
        check_soft_layout(job, resolved)
        self.units = Units(job.model, job.adapter.kind == "structured", job.example_inputs, resolved)  # the model keeps its shape
        self.keep: dict[str, torch.Tensor] | None = None  # what the last `zero` kept, per unit
        self._masked: dict[str, list[int]] | None = None  # the filters mask_gradients masks, per conv

    @torch.no_grad()
    def zero(self, model: nn.Module) -> None:
        if model is not self.model:
            raise ValueError("ZeroingPruner.zero: pass the model it was built for")
        p = plan(self.job, model, units=self.units)
        self.keep, self._masked = p.keep, None
        if self.job.adapter.kind != "structured":
            for unit, keep in p.keep.items():
                weight = self.units.layers[unit].weight
                weight.mul_(keep.to(weight.device, weight.dtype))
            return
        zero_filters(model, self.units.groups, {u: (~k).nonzero().flatten().tolist() for u, k in p.keep.items()})

    @torch.no_grad()
    def mask_gradients(self, model: nn.Module) -> None:
        """Zero, in place, the gradients of the filters (or weights) the last `zero` zeroed."""
        if model is not self.model:
            raise ValueError("ZeroingPruner.mask_gradients: pass the model it was built for")
        if self.keep is None:  # resumed from a checkpoint: the zeroed filters are still the lowest-scored
            self.keep = plan(self.job, model, units=self.units).keep
        if self.job.adapter.kind != "structured":
            for unit, keep in self.keep.items():
                grad = self.units.layers[unit].weight.grad
                if grad is not None:
                    grad.mul_(keep.to(grad.device, grad.dtype))
            return
        if self._masked is None:  # per member conv, its filters of the removed root channels
            self._masked = {}
            for unit, group in self.units.groups.items():
                removed = set((~self.keep[unit]).nonzero().flatten().tolist())
                for conv, pairs in group.members.items():
                    idxs = [member for member, root in pairs if root in removed]
                    if idxs:
                        self._masked[conv] = idxs
        for conv, idxs in self._masked.items():
            module = model.get_submodule(conv)
            for param in (module.weight, module.bias):
                if param is not None and param.grad is not None:
                    param.grad[idxs] = 0

    @torch.no_grad()
    def recalibrate(self, model: nn.Module) -> None:
        """A cumulative average over the recalibration batches, in train mode, replaces every
        BatchNorm's running statistics (training itself never reads them: it normalizes by batch)."""
        if not self.recalibration:
            raise ValueError("ZeroingPruner.recalibrate: no recalibration batches were given")
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        momenta = [m.momentum for m in norms]
        was_training = model.training
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        try:
            for inputs, _ in self.recalibration:
                model(inputs)
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            model.train(was_training)


def check_soft_layout(job: PruneJob, layout: Layout) -> None:
    """Structured soft pruning needs a full-width layout: only there does removing the zeroed channels
    at the end give the network that was trained and validated."""
    adapter = job.adapter
    if adapter.kind == "structured" and not layout.full_width:
        offered = [n for n, lay in model_layouts(job.model).items() if lay.full_width]
        raise BenchError(
            f"{adapter.name} prunes softly during retraining, which needs a full-width layout (the network it "
            f"validates and the one it reports must compute the same function); {job.model_name}'s {layout.name!r} "
            f"is not one" + (f" (use --layout {offered[0]})" if offered else " and the model offers none")
        )
