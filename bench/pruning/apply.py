"""Scores and a target made into a genuinely pruned model: what each unit keeps (`plan`), then the
removal itself (`prune`). The front door is `PruneJob` (bench/pruning/job.py), which calls these.

Structured pruning removes output channels physically (bench/pruning/surgery.py) from units
(bench/pruning/units.py): torch-pruning's dependency groups, shaped by the layout the adapter's
reference prunes in (bench/pruning/layouts.py), each named after its first conv. Unstructured
pruning keeps a fixed 0/1 mask per weight that is re-applied after every optimizer step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from bench.errors import BenchError
from bench.pruning.allocation import Step, conv_rates, dense_total, matched_counts, target_counts, top_k_mask
from bench.pruning.interface import Adapter, PruningContext, Scores
from bench.pruning.layouts import Layout, model_layouts, resolve_layout
from bench.pruning.structure import PrunedModel, Structure
from bench.pruning.surgery import remove_channels
from bench.pruning.units import Group, Units, feature_maps

if TYPE_CHECKING:  # the job's type only: job.py calls this module
    from bench.pruning.job import PruneJob

__all__ = ["Plan", "check_target", "layout_for", "plan", "prune", "score_units"]


def layout_for(model: nn.Module, model_name: str, adapter: Adapter, requested: str | None = None) -> Layout:
    """The layout `adapter` prunes `model` with: `requested`, else the adapter's own, else the model's
    default (unless the adapter requires its own: then a model offering layouts without it is an error;
    a model offering none is pruned by its dependency graph, every conv group)."""
    if requested is None and adapter.layout_required and adapter.layout is not None:
        offered = model_layouts(model)
        if adapter.layout not in offered and any(lay.entries is not None for lay in offered.values()):
            raise BenchError(
                f"{adapter.name} needs the {adapter.layout!r} layout, which {model_name} does not offer "
                f"(it offers {', '.join(offered)}; --layout chooses one explicitly)"
            )
    return resolve_layout(model, model_name, adapter.layout, requested)


def check_target(job: PruneJob) -> Layout:
    """Raise the error `prune` would raise for the job's target and layout, without scoring anything
    (fail fast); return the layout."""
    adapter, target = job.adapter, job.target
    if target.speedup is not None and adapter.kind != "structured":
        raise BenchError(
            f"--speedup is a FLOPs target for structured pruning; {adapter.name} is unstructured, where --ratio is "
            "already the fraction of weights removed (its record states the params and FLOPs it reaches)"
        )
    resolved = layout_for(job.model, job.model_name, adapter, job.layout)
    units = Units(job.model, adapter.kind == "structured", job.example_inputs, resolved)
    if target.speedup is None:  # a speedup's reach is checked by bench.pruning.cost.check_reach
        conv_rates(job.model_name, resolved, units.members, target, adapter)
    return resolved


@dataclass
class Plan:
    units: Units
    keep: dict[str, torch.Tensor]  # unit → bool mask over its channels or weights
    structure: Structure


def plan(
    job: PruneJob,
    model: nn.Module | None = None,
    *,
    reference: Structure | None = None,
    step: Step | None = None,
    units: Units | None = None,
) -> Plan:
    """Score `model` (default: the job's) with the job's adapter and decide what each unit keeps; the
    model is not changed. A `reference` structure brings its layout (the random control prunes where
    the method pruned)."""
    model = job.model if model is None else model
    adapter = job.adapter
    structured = adapter.kind == "structured"
    if units is None:
        layout = job.layout
        if reference is not None and reference.layout is not None:
            if layout is not None and layout != reference.layout:
                raise BenchError(f"layout {layout!r} differs from the reference structure's {reference.layout!r}")
            layout = reference.layout
        units = Units(model, structured, job.example_inputs, layout_for(model, job.model_name, adapter, layout))
    unit_scores = score_units(model, adapter, units, example_inputs=job.example_inputs, calibration=list(job.calibration),
                              seed=job.seed)
    for unit, mask in (step.masks if step else {}).items():
        unit_scores[unit] = unit_scores[unit].masked_fill(~mask.cpu(), float("-inf"))  # removed earlier: stays removed

    if step is not None and step.original is not None and set(step.original.units) != set(units.sizes):
        raise BenchError("iterative pruning: the model's prunable units changed between steps")
    if reference is not None:
        counts = matched_counts(reference, {u: dense_total(u, units, step) for u in units.sizes}, adapter.kind)
    else:
        counts = target_counts(job.model_name, adapter, job.target, units, unit_scores, step)
    keep = {u: top_k_mask(unit_scores[u], counts[u]) for u in units.sizes}
    structure = Structure(
        adapter.kind,
        {u: (int(keep[u].sum()), dense_total(u, units, step)) for u in units.sizes},
        units.layout.name if structured else None,
    )
    return Plan(units, keep, structure)


def prune(job: PruneJob, model: nn.Module | None = None, *, reference: Structure | None = None,
          step: Step | None = None) -> PrunedModel:
    """Prune a copy of `model` (default: the job's dense model). With `reference`, keep exactly its
    per-unit counts in its layout (random control); with `step`, prune one step of an iterative schedule."""
    model = copy.deepcopy(job.model if model is None else model)
    p = plan(job, model, reference=reference, step=step)
    if job.adapter.kind == "structured":
        remove_channels(model, p.units, p.keep, job.example_inputs)
        return PrunedModel(model, p.structure)
    pruned = PrunedModel(model, p.structure, masks={u: p.keep[u] for u in p.units.sizes if not bool(p.keep[u].all())})
    pruned.apply_masks()
    return pruned


def score_units(
    model: nn.Module,
    adapter: Adapter,
    units: Units,
    *,
    example_inputs: torch.Tensor,
    calibration: list[tuple[torch.Tensor, torch.Tensor]],
    seed: int,
) -> dict[str, torch.Tensor]:
    """The adapter's scores per unit (structured: per root channel; unstructured: per weight)."""
    structured = adapter.kind == "structured"
    ctx = PruningContext(
        model=model,
        example_inputs=example_inputs,
        layers=units.layers,
        calibration=calibration,
        feature_maps=feature_maps(model, units),
        generator=torch.Generator().manual_seed(seed),
        seed=seed,
        norms=units.norms(),
        normalized_by=units.normalized_by(),
        residual=frozenset(c for g in units.groups.values() for p in g.parts if p.residual for c in p.members),
        units=dict(units.members),
        graph=units.dg if structured else None,
    )
    was_training = model.training
    model.eval()
    try:
        with torch.set_grad_enabled(adapter.needs_gradients):
            scores = adapter.score(ctx)
    finally:
        model.train(was_training)
    who = adapter.name or type(adapter).__name__
    return _group_scores(scores, units.groups, who) if structured else _weight_scores(scores, units.layers, who)


def _group_scores(scores: Scores, groups: dict[str, Group], who: str) -> dict[str, torch.Tensor]:
    """Mean of the member convs' channel scores, mapped into the group's root channel order. A unit
    none of whose convs has a score is an error: scoring it as a tie would remove channels by index."""
    out = {}
    for unit, group in groups.items():
        total = torch.zeros(group.size, dtype=torch.float64)
        count = torch.zeros(group.size, dtype=torch.float64)
        for conv, pairs in group.members.items():
            if conv not in scores:
                continue
            s = scores[conv].detach().flatten().double().cpu()
            member_idx = torch.tensor([p[0] for p in pairs])
            root_idx = torch.tensor([p[1] for p in pairs])
            if s.numel() <= int(member_idx.max()):
                raise BenchError(f"adapter returned {s.numel()} scores for {conv}, which has more output channels")
            total.index_add_(0, root_idx, s[member_idx])
            count.index_add_(0, root_idx, torch.ones(len(pairs), dtype=torch.float64))
        if not bool((count > 0).all()):
            raise BenchError(f"adapter {who} returned no score for layer {unit} (convs {', '.join(group.members)})")
        out[unit] = total / count
    return out


def _weight_scores(scores: Scores, layers: dict[str, nn.Module], who: str) -> dict[str, torch.Tensor]:
    out = {}
    for name, module in layers.items():
        s = scores.get(name)
        if s is None:
            raise BenchError(f"adapter {who} returned no score for layer {name}")
        if s.shape != module.weight.shape:
            raise BenchError(f"adapter returned scores of shape {tuple(s.shape)} for {name}, expected {tuple(module.weight.shape)}")
        out[name] = s.detach().cpu()
    return out
