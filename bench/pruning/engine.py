"""The pruning core: turn an adapter's scores and a target into a genuinely pruned model.

Structured pruning removes output channels physically (bench/pruning/surgery.py) from units
(bench/pruning/units.py): torch-pruning's dependency groups, shaped by the layout the adapter's
reference prunes in (bench/pruning/layouts.py), each named after its first conv. Unstructured
pruning keeps a fixed 0/1 mask per weight that is re-applied after every optimizer step.

`Structure` (kept/total per unit, and the layout) is what a random control is matched against and
what records store.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from bench.core.hooks import TrainingHook
from bench.errors import BenchError
from bench.pruning.interface import Adapter, PruningContext, Scores
from bench.pruning.layouts import Layout, model_layouts, resolve_layout
from bench.pruning.surgery import (
    identity_routes,
    remove_channels,
    rescale_filters,
    zero_filters,
)
from bench.pruning.targets import KeepCounts, Target, check_rate, format_compress_rate
from bench.pruning.units import Group, Units, batchnorms_after, feature_maps

__all__ = ["PrunedModel", "Step", "Structure", "ZeroingPruner", "batchnorms_after", "check_soft_layout", "check_target", "identity_routes", "rescale_filters",
           "layout_for", "plan", "prune", "score_units", "target_counts"]


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


# --- from target to per-unit keep counts ----------------------------------------------------------


def conv_rates(
    model_name: str, layout: Layout, units: dict[str, list[str]], target: Target, adapter: Adapter
) -> dict[str, float]:
    """Per-conv removal fractions: a named configuration's, or the target's rate for every conv of
    the layout's compress-rate entries (convs in no entry stay dense). `units` maps each unit to its
    member convs; a generic layout has one entry per unit."""
    convs = [c for members in units.values() for c in members]
    if target.config is not None:
        config = adapter.configs.get(target.config)
        if config is None:
            known = ", ".join(sorted(adapter.configs)) or "none"
            raise BenchError(f"adapter {adapter.name!r} has no configuration {target.config!r} (known: {known})")
        if config.model != model_name:
            raise BenchError(f"configuration {target.config!r} is defined for model {config.model!r}, not {model_name!r}")
        unknown = sorted(set(config.rates) - set(convs))
        if unknown:
            raise BenchError(f"configuration {target.config!r} names layers the model lacks: {', '.join(unknown[:3])}")
        return {c: check_rate(r, f"rate of {c}") for c, r in config.rates.items()}
    if target.ratio is not None and adapter.kind == "unstructured":
        return {conv: target.ratio for conv in convs}  # every weight is maskable: no layout restriction
    entries = layout.entries if layout.entries is not None else [tuple(m) for m in units.values()]
    rates = target.compress_rate if target.compress_rate is not None else (target.ratio,) * len(entries)
    if len(rates) != len(entries):
        raise BenchError(
            f"--compress-rate has {len(rates)} entries but {model_name}'s {layout.name} layout takes {len(entries)} "
            f"(e.g. {format_compress_rate((0.0,) + (0.3,) * (len(entries) - 1))})"
        )
    return {conv: rate for rate, entry in zip(rates, entries) for conv in entry}


def keep_count(total: int, rate: float, rounding: str = "kept") -> int:
    """Channels kept of `total` at removal fraction `rate`. "kept": int(total * (1 - rate)), as PFEC's
    and HRankPlus's code round; "removed": total - int(total * rate), as SFP's and FPGM's code round
    (they truncate the number removed). The epsilon stops 0.7 * 10 from becoming 6; at least one stays."""
    if rounding == "removed":
        return max(1, total - int(total * rate + 1e-9))
    return max(1, int(total * (1.0 - rate) + 1e-9))


def keep_counts(
    unit_sizes: dict[str, int],
    unit_members: dict[str, list[str]],
    rates: dict[str, float],
    rounding: str = "kept",
    relative: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, int]:
    """A unit takes the rate of its first member conv that has one; units without a rate stay dense.
    A `relative` conv's rate applies to the kept widths of the convs it names, summed (units in
    module order, so those are counted first)."""
    counts: dict[str, int] = {}
    unit_of = {c: u for u, members in unit_members.items() for c in members}
    for unit, size in unit_sizes.items():
        conv = next((c for c in unit_members[unit] if c in rates), None)
        rate = rates[conv] if conv is not None else 0.0
        base = (relative or {}).get(conv)
        if base is not None:
            width = sum(counts[unit_of[c]] for c in base)
            counts[unit] = min(size, keep_count(width, rate, rounding))
        else:
            counts[unit] = keep_count(size, rate, rounding)
    return counts


def global_keep_counts(unit_scores: dict[str, torch.Tensor], covered: list[str], n_remove: int) -> dict[str, int]:
    """One ranking over all covered units (magnitude pruning's global threshold) removing the
    `n_remove` lowest scores; ties are broken by position, so equal scores (e.g. the BatchNorm scales
    of a fresh network) still remove exactly `n_remove`. Every unit keeps at least one."""
    counts = {u: s.numel() for u, s in unit_scores.items()}
    if n_remove <= 0 or not covered:
        return counts
    flat = torch.cat([unit_scores[u].flatten().float() for u in covered])
    owner = torch.cat([torch.full((unit_scores[u].numel(),), i) for i, u in enumerate(covered)])
    n_remove = min(n_remove, flat.numel())
    threshold = torch.kthvalue(flat, n_remove).values  # O(n): no full sort of millions of weights
    removed = flat < threshold
    ties = (flat == threshold).nonzero().flatten()
    removed[ties[: n_remove - int(removed.sum())]] = True  # the first tied positions make up the count
    per_unit = torch.bincount(owner[removed], minlength=len(covered))
    for i, u in enumerate(covered):
        counts[u] = max(1, counts[u] - int(per_unit[i]))
    return counts


def top_k_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask keeping the k highest scores; ties go to the lower index (stable, deterministic)."""
    order = torch.argsort(scores.flatten().float(), descending=True, stable=True)
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    mask[order[:k].cpu()] = True
    return mask.view(scores.shape)


# --- the whole step -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of iterative pruning: `fraction` of the target, with every rate counted against the
    `original` (dense) units, None for the first step (the model is the dense one). Weights masked by
    earlier steps (`masks`, unstructured) stay removed."""

    fraction: float
    original: Structure | None = None
    masks: dict[str, torch.Tensor] = field(default_factory=dict)


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


@dataclass
class _Plan:
    units: Units
    keep: dict[str, torch.Tensor]  # unit → bool mask over its channels or weights
    structure: Structure


def check_target(
    model: nn.Module, model_name: str, adapter: Adapter, target: Target, example_inputs: torch.Tensor, layout: str | None = None
) -> Layout:
    """Raise the error `prune` would raise for this target and layout, without scoring anything (fail
    fast); return the layout."""
    if target.speedup is not None and adapter.kind != "structured":
        raise BenchError(
            f"--speedup is a FLOPs target for structured pruning; {adapter.name} is unstructured, where --ratio is "
            "already the fraction of weights removed (its record states the params and FLOPs it reaches)"
        )
    resolved = layout_for(model, model_name, adapter, layout)
    units = Units(model, adapter.kind == "structured", example_inputs, resolved)
    if target.speedup is None:  # a speedup's reach is checked by bench.pruning.cost.check_reach
        conv_rates(model_name, resolved, units.members, target, adapter)
    return resolved


def plan(
    model: nn.Module,
    model_name: str,
    adapter: Adapter,
    target: Target | KeepCounts | None,
    *,
    example_inputs: torch.Tensor,
    calibration: list[tuple[torch.Tensor, torch.Tensor]],
    seed: int,
    reference: Structure | None = None,
    step: Step | None = None,
    units: Units | None = None,
    layout: str | None = None,
) -> _Plan:
    """Score `model` with the adapter and decide what each unit keeps; `model` is not changed. A
    `reference` structure brings its layout (the random control prunes where the method pruned)."""
    structured = adapter.kind == "structured"
    if units is None:
        if reference is not None and reference.layout is not None:
            if layout is not None and layout != reference.layout:
                raise BenchError(f"layout {layout!r} differs from the reference structure's {reference.layout!r}")
            layout = reference.layout
        units = Units(model, structured, example_inputs, layout_for(model, model_name, adapter, layout))
    unit_scores = score_units(model, adapter, units, example_inputs=example_inputs, calibration=calibration, seed=seed)
    for unit, mask in (step.masks if step else {}).items():
        unit_scores[unit] = unit_scores[unit].masked_fill(~mask.cpu(), float("-inf"))  # removed earlier: stays removed

    if step is not None and step.original is not None and set(step.original.units) != set(units.sizes):
        raise BenchError("iterative pruning: the model's prunable units changed between steps")
    if reference is not None:
        counts = _matched_counts(reference, {u: _total(u, units, step) for u in units.sizes}, adapter.kind)
    else:
        counts = target_counts(model_name, adapter, target, units, unit_scores, step)
    keep = {u: top_k_mask(unit_scores[u], counts[u]) for u in units.sizes}
    structure = Structure(
        adapter.kind,
        {u: (int(keep[u].sum()), _total(u, units, step)) for u in units.sizes},
        units.layout.name if structured else None,
    )
    return _Plan(units, keep, structure)


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


def _total(unit: str, units: Units, step: Step | None) -> int:
    """A unit's size in the dense model, against which every step's rate is counted."""
    return step.original.units[unit][1] if step is not None and step.original is not None else units.sizes[unit]


def target_counts(
    model_name: str,
    adapter: Adapter,
    target: Target | KeepCounts,
    units: Units,
    unit_scores: dict[str, torch.Tensor],
    step: Step | None = None,
) -> dict[str, int]:
    """Per-unit keep counts at a target. A layerwise target needs no scores (`unit_scores` may be
    empty); a global ratio removes the lowest scores over the layout's units."""
    if isinstance(target, KeepCounts):
        if step is not None and step.fraction != 1.0:
            raise BenchError("a --speedup target prunes in one step; --iterations does not apply to it")
        counts = target.as_dict()
        if set(counts) != set(units.sizes):
            raise BenchError("the resolved cost target does not match this model's prunable units")
        return {u: min(counts[u], units.sizes[u]) for u in units.sizes}
    if target.speedup is not None:
        raise BenchError("a --speedup target is resolved to the adapter's keep counts first (bench.pruning.cost)")
    fraction = step.fraction if step is not None else 1.0
    original = {u: _total(u, units, step) for u in units.sizes}
    rates = {c: r * fraction for c, r in conv_rates(model_name, units.layout, units.members, target, adapter).items()}
    if adapter.allocation == "global" and target.ratio is not None:
        covered = [u for u in units.sizes if any(c in rates for c in units.members[u])]
        total = sum(original[u] for u in covered)
        already_removed = total - sum(units.sizes[u] for u in covered)  # channels removed by earlier steps
        return global_keep_counts(unit_scores, covered, int(total * target.ratio * fraction) - already_removed)
    counts = keep_counts(original, units.members, rates, adapter.rounding, units.layout.relative)
    return {u: min(counts[u], units.sizes[u]) for u in units.sizes}


def prune(
    dense: nn.Module,
    model_name: str,
    adapter: Adapter,
    target: Target | KeepCounts | None,
    *,
    example_inputs: torch.Tensor,
    calibration: list[tuple[torch.Tensor, torch.Tensor]],
    seed: int,
    reference: Structure | None = None,
    step: Step | None = None,
    layout: str | None = None,
) -> PrunedModel:
    """Prune a copy of `dense`. With `reference`, keep exactly its per-unit counts in its layout
    (random control); with `step`, prune one step of an iterative schedule; `layout` overrides the
    adapter's own layout."""
    model = copy.deepcopy(dense)
    p = plan(
        model, model_name, adapter, target,
        example_inputs=example_inputs, calibration=calibration, seed=seed, reference=reference, step=step, layout=layout,
    )
    if adapter.kind == "structured":
        remove_channels(model, p.units, p.keep, example_inputs)
        return PrunedModel(model, p.structure)
    pruned = PrunedModel(model, p.structure, masks={u: p.keep[u] for u in p.units.sizes if not bool(p.keep[u].all())})
    pruned.apply_masks()
    return pruned


class ZeroingPruner:
    """Soft pruning (the `SoftPruner` handed to retrain hooks): zero, in place, the conv filters (or
    weights) the adapter would remove now, leaving them free to grow back. Filters are zeroed in
    every conv of a unit, as removing the unit would remove them; like SFP's reference code,
    BatchNorm parameters are left alone. Structured soft pruning needs a full-width layout, where
    removing the zeroed channels at the end computes exactly what the zeroed network computes.
    `mask_gradients` zeroes the gradients of what the last `zero` zeroed (FPGM's reference code, SFP's
    successor, does so before every optimizer step); after a resume, before any `zero` in this
    process, it takes what the current scores would remove: the zeroed filters, which masked move only
    by their momentum and stay far below the norms of the filters kept."""

    def __init__(self, model, model_name, adapter, target, *, example_inputs, calibration, seed, layout=None, recalibration=()):
        self.args = dict(model_name=model_name, adapter=adapter, target=target)
        self.kw = dict(example_inputs=example_inputs, calibration=calibration, seed=seed)
        self.model = model
        self.recalibration = list(recalibration)  # training batches the BatchNorm statistics are re-estimated on
        resolved = layout_for(model, model_name, adapter, layout)
        check_soft_layout(model, model_name, adapter, resolved)
        self.units = Units(model, adapter.kind == "structured", example_inputs, resolved)  # the model keeps its shape
        self.keep: dict[str, torch.Tensor] | None = None  # what the last `zero` kept, per unit
        self._masked: dict[str, list[int]] | None = None  # the filters mask_gradients masks, per conv

    @torch.no_grad()
    def zero(self, model: nn.Module) -> None:
        if model is not self.model:
            raise ValueError("ZeroingPruner.zero: pass the model it was built for")
        p = plan(model, **self.args, **self.kw, units=self.units)
        self.keep, self._masked = p.keep, None
        if self.args["adapter"].kind != "structured":
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
            self.keep = plan(model, **self.args, **self.kw, units=self.units).keep
        if self.args["adapter"].kind != "structured":
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


def check_soft_layout(model: nn.Module, model_name: str, adapter: Adapter, layout: Layout) -> None:
    """Structured soft pruning needs a full-width layout: only there does removing the zeroed channels
    at the end give the network that was trained and validated."""
    if adapter.kind == "structured" and not layout.full_width:
        offered = [n for n, lay in model_layouts(model).items() if lay.full_width]
        raise BenchError(
            f"{adapter.name} prunes softly during retraining, which needs a full-width layout (the network it "
            f"validates and the one it reports must compute the same function); {model_name}'s {layout.name!r} "
            f"is not one" + (f" (use --layout {offered[0]})" if offered else " and the model offers none")
        )


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


def _matched_counts(reference: Structure, unit_sizes: dict[str, int], kind: str) -> dict[str, int]:
    if reference.kind != kind or {u: t for u, (_, t) in reference.units.items()} != unit_sizes:
        raise BenchError("the reference structure does not match this model's prunable units")
    return {u: k for u, (k, _) in reference.units.items()}


