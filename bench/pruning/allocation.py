"""From a target to what each pruning unit keeps: per-conv rates (`conv_rates`), their channel counts
(`keep_count(s)`: the reference's rounding), one global ranking (`global_keep_counts`), a resolved cost
target's counts, a reference structure's counts (`matched_counts`), one step of an iterative schedule
(`Step`), and the channels a unit keeps given its scores (`top_k_mask`). Pure arithmetic on sizes and
scores: nothing here touches a network."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from bench.errors import BenchError
from bench.pruning.interface import Adapter
from bench.pruning.layouts import Layout
from bench.pruning.structure import Structure
from bench.pruning.targets import KeepCounts, Target, check_rate, format_compress_rate
from bench.pruning.units import Units

__all__ = ["Step", "conv_rates", "dense_total", "global_keep_counts", "keep_count", "keep_counts", "matched_counts",
           "target_counts", "top_k_mask"]


@dataclass(frozen=True)
class Step:
    """One step of iterative pruning: `fraction` of the target, with every rate counted against the
    `original` (dense) units, None for the first step (the model is the dense one). Weights masked by
    earlier steps (`masks`, unstructured) stay removed."""

    fraction: float
    original: Structure | None = None
    masks: dict[str, torch.Tensor] = field(default_factory=dict)


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


def dense_total(unit: str, units: Units, step: Step | None) -> int:
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
    original = {u: dense_total(u, units, step) for u in units.sizes}
    rates = {c: r * fraction for c, r in conv_rates(model_name, units.layout, units.members, target, adapter).items()}
    if adapter.allocation == "global" and target.ratio is not None:
        covered = [u for u in units.sizes if any(c in rates for c in units.members[u])]
        total = sum(original[u] for u in covered)
        already_removed = total - sum(units.sizes[u] for u in covered)  # channels removed by earlier steps
        return global_keep_counts(unit_scores, covered, int(total * target.ratio * fraction) - already_removed)
    counts = keep_counts(original, units.members, rates, adapter.rounding, units.layout.relative)
    return {u: min(counts[u], units.sizes[u]) for u in units.sizes}


def matched_counts(reference: Structure, unit_sizes: dict[str, int], kind: str) -> dict[str, int]:
    """A reference structure's kept counts (a random control's), if its units are these units."""
    if reference.kind != kind or {u: t for u, (_, t) in reference.units.items()} != unit_sizes:
        raise BenchError("the reference structure does not match this model's prunable units")
    return {u: k for u, (k, _) in reference.units.items()}
