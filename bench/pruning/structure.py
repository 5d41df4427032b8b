"""What pruning produced: `Structure` (kept and total per unit, and the layout: what a random control
is matched against and what records store) and `PrunedModel` (the network, with the fixed masks of
unstructured pruning that retraining re-applies after every step)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from bench.core.hooks import TrainingHook

__all__ = ["PrunedModel", "Structure"]


@dataclass(frozen=True)
class Structure:
    """Kept and total channels (structured) or weights (unstructured) per pruning unit, and (structured)
    the layout the units come from: a random control matched to a structure uses its layout."""

    kind: str
    units: dict[str, tuple[int, int]]
    layout: str | None = None

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "units": {n: {"kept": k, "total": t} for n, (k, t) in self.units.items()}}
        return {**out, "layout": self.layout} if self.layout is not None else out

    @classmethod
    def from_dict(cls, data: dict) -> "Structure":
        return cls(data["kind"], {n: (u["kept"], u["total"]) for n, u in data["units"].items()}, data.get("layout"))

    @property
    def density(self) -> float:
        kept = sum(k for k, _ in self.units.values())
        total = sum(t for _, t in self.units.values())
        return kept / total if total else 1.0


@dataclass
class PrunedModel:
    model: nn.Module
    structure: Structure
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  # unstructured only: module name → mask

    @torch.no_grad()
    def apply_masks(self, model: nn.Module | None = None) -> None:
        """Zero the pruned weights (after init and after every optimizer step)."""
        target = self.model if model is None else model
        for name, mask in self.masks.items():
            weight = target.get_submodule(name).weight
            weight.mul_(mask.to(weight.device, weight.dtype))

    def hooks(self) -> list[TrainingHook]:
        """What retraining needs to keep this model pruned: the fixed masks, re-applied every step."""
        return [_MaskHook(self)] if self.masks else []


class _MaskHook(TrainingHook):
    def __init__(self, pruned: PrunedModel):
        self.pruned = pruned

    def after_step(self, model: nn.Module) -> None:
        self.pruned.apply_masks(model)
