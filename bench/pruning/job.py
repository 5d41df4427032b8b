"""`PruneJob`: the one front door to pruning. One frozen value holds what every pruning of a network
needs (the dense model, its name, the adapter, the target, the layout, example inputs, calibration
batches and the scoring seed), and its methods are everything done with it: checks before any
training (`check_target`, `preflight`), the search for a cost target (`resolved`), pruning once
(`prune`, `plan`) or in steps (`steps`), soft pruning (`soft_pruner`), and the controls (`random_control`,
`allocation_control`). A variant is `dataclasses.replace(job, ...)`: another seed, arm or model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import KW_ONLY, dataclass, replace

import torch
import torch.nn as nn

from bench.pruning import apply, cost
from bench.pruning.allocation import Step
from bench.pruning.controls import random_control_adapter
from bench.pruning.interface import Adapter
from bench.pruning.layouts import Layout
from bench.pruning.soft import ZeroingPruner, check_soft_layout
from bench.pruning.structure import PrunedModel, Structure
from bench.pruning.targets import KeepCounts, Target
from bench.pruning.units import Units

__all__ = ["PruneJob"]

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True, eq=False)  # eq=False: a model and tensors have no value equality; a job is itself
class PruneJob:
    """Prune `model` with `adapter` to `target`, in `layout` (None: the adapter's own), scoring with
    `seed` on `calibration`. Pruning works on a copy of the model; only the soft pruner zeroes it in
    place. `target` is None for a job that only prunes to reference structures (a control); a
    `--speedup` must be `resolved()` first."""

    model: nn.Module
    model_name: str
    adapter: Adapter
    target: Target | KeepCounts | None
    _: KW_ONLY
    example_inputs: torch.Tensor
    calibration: Batches = ()
    seed: int = 0
    layout: str | None = None

    # --- before any training ----------------------------------------------------------------------

    def resolve_layout(self, model: nn.Module | None = None) -> Layout:
        """The layout the adapter prunes `model` (default: the job's) with."""
        return apply.layout_for(self.model if model is None else model, self.model_name, self.adapter, self.layout)

    def check_target(self) -> Layout:
        """Raise the error pruning would raise for this target and layout, without scoring; return the layout."""
        return apply.check_target(self)

    def preflight(self) -> Layout:
        """Everything a run checks before it trains (the model's weights do not matter): the target and
        layout, the reach of a `--speedup`, and the full-width layout that soft pruning needs. Returns
        the layout."""
        layout = self.check_target()
        if self.target.speedup is not None:  # reach depends on the widths only, not on weights or scores
            cost.check_reach(self)
        if self.adapter.soft_pruning() is not None:
            check_soft_layout(self, layout)
        return layout

    # --- a cost target ----------------------------------------------------------------------------

    def resolved(self, *, search_seed: int | None = None) -> tuple[PruneJob, cost.CostMatch | None]:
        """This job with a `--speedup` searched to the adapter's keep counts (bench/pruning/cost.py), and
        the match; any other target as it is (and None). `search_seed`: the seed the search's scores
        are drawn with, if not the job's."""
        searched = self if search_seed is None else replace(self, seed=search_seed)
        target, match = cost.resolve_target(searched)
        return (self, None) if match is None else (replace(self, target=target), match)

    # --- pruning ----------------------------------------------------------------------------------

    def plan(self, model: nn.Module | None = None, *, reference: Structure | None = None, step: Step | None = None,
             units: Units | None = None) -> apply.Plan:
        """What each unit of `model` (default: the job's) keeps, without changing it."""
        return apply.plan(self, model, reference=reference, step=step, units=units)

    def prune(self, model: nn.Module | None = None, *, reference: Structure | None = None,
              step: Step | None = None) -> PrunedModel:
        """A pruned copy of `model` (default: the job's): to the target, or with `reference` to exactly its
        per-unit counts in its layout (a control); `step` is one step of an iterative schedule."""
        return apply.prune(self, model, reference=reference, step=step)

    def steps(self, iterations: int, reference: Sequence[Structure] | None = None) -> Iterator[PrunedModel]:
        """Prune in `iterations` steps (`--iterations K`): 1/K of the target, then 2/K, ... with every rate
        counted against the dense model and weights masked earlier kept removed. The caller retrains each
        model yielded in place: the next step prunes what it trained. With `reference` (the method's
        structure after every step) each step is matched to it, and there are at most as many steps.
        One iteration is one-shot pruning."""
        model, original, masks = self.model, None, {}
        for i in range(1, iterations + 1):
            if reference is not None and i > len(reference):
                return  # the method stopped (diverged) at an earlier step: its control stops there too
            step = Step(i / iterations, original, masks) if iterations > 1 else None
            pruned = self.prune(model, reference=reference[i - 1] if reference else None, step=step)
            units = pruned.structure.units
            original = original or Structure(pruned.structure.kind, {u: (t, t) for u, (_, t) in units.items()})
            yield pruned
            model, masks = pruned.model, pruned.masks

    def soft_pruner(self, *, recalibration: Batches = ()) -> ZeroingPruner:
        """The `SoftPruner` that zeroes, in place, what this job would remove from the job's model now."""
        return ZeroingPruner(self, recalibration=recalibration)

    # --- the controls -----------------------------------------------------------------------------

    def random_control(self, structure: Structure, *, seed: int | None = None) -> PrunedModel:
        """The random control of `structure` (the method's): random channels or weights of the job's
        model, exactly as many per unit, in the structure's layout. `seed` draws them (default: the job's)."""
        control = replace(self, adapter=random_control_adapter(self.adapter), target=None, calibration=(),
                          seed=self.seed if seed is None else seed)
        return control.prune(reference=structure)

    def allocation_control(self, method: Structure, flops: int) -> Structure:
        """The allocation control's structure: the method's units at one rate for every entry of the job's
        layout (by the method's rounding rule), at the method's `flops`."""
        uniform = cost.uniform_at_flops(self, random_control_adapter(self.adapter), flops)
        return Structure("structured", {u: (uniform.counts[u], t) for u, (_, t) in method.units.items()}, self.layout)
