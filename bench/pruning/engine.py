"""The pruning core: turn an adapter's scores and a target into a genuinely pruned model.

Structured pruning removes output channels physically through torch-pruning's dependency graph, so
residual additions, concatenations and BatchNorms stay consistent; the unit of pruning is a
dependency *group* (channels that must go together), named after its first conv. Unstructured
pruning keeps a fixed 0/1 mask per weight that is re-applied after every optimizer step.

`Structure` (kept/total per unit) is what a random control is matched against and what records store.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch_pruning as tp

from bench.errors import BenchError
from bench.pruning.interface import Adapter, PruningContext, Scores
from bench.pruning.shortcut import CUSTOM_PRUNERS
from bench.pruning.targets import Target, check_rate, format_compress_rate


@dataclass(frozen=True)
class Structure:
    """Kept and total channels (structured) or weights (unstructured) per pruning unit."""

    kind: str
    units: dict[str, tuple[int, int]]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "units": {n: {"kept": k, "total": t} for n, (k, t) in self.units.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "Structure":
        return cls(data["kind"], {n: (u["kept"], u["total"]) for n, u in data["units"].items()})

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


@dataclass
class _Group:
    root: nn.Module
    size: int
    members: dict[str, list[tuple[int, int]]]  # conv name → (member index, root index) pairs


# --- discovering units ---------------------------------------------------------------------------


def classifier_of(model: nn.Module) -> nn.Module | None:
    """The last Linear layer: its outputs are the class logits and are never pruned."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def build_graph(model: nn.Module, example_inputs: torch.Tensor) -> tp.DependencyGraph:
    was_training = model.training
    model.eval()  # a single example through BatchNorm in train mode would fail
    try:
        return tp.DependencyGraph().build_dependency(
            model, example_inputs=example_inputs, customized_pruners=CUSTOM_PRUNERS
        )
    finally:
        model.train(was_training)


def structured_groups(model: nn.Module, dg: tp.DependencyGraph) -> dict[str, _Group]:
    """Prunable channel groups keyed by their first conv's module name (module order)."""
    names = {m: n for n, m in model.named_modules()}
    order = {n: i for i, n in enumerate(names.values())}
    head = classifier_of(model)
    groups: dict[str, _Group] = {}
    for group in dg.get_all_groups(ignored_layers=[head] if head is not None else [], root_module_types=[nn.Conv2d]):
        members: dict[str, list[tuple[int, int]]] = {}
        for item in group:
            module = item.dep.target.module
            if isinstance(module, nn.Conv2d) and item.dep.handler == tp.prune_conv_out_channels:
                members[names[module]] = [(int(i), int(r)) for i, r in zip(item.idxs, item.root_idxs)]
        if not members:
            continue
        root = group[0].dep.target.module
        name = min(members, key=order.__getitem__)
        groups[name] = _Group(root, len(group[0].idxs), members)
    return dict(sorted(groups.items(), key=lambda kv: order[kv[0]]))


def unstructured_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every conv weight is maskable (the convention of Liu et al. 2019 and the paper's MWP runs)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


# --- from target to per-unit keep counts ----------------------------------------------------------


def _layout(model: nn.Module, convs: list[str]) -> list[list[str]]:
    layout = getattr(model, "compress_rate_layout", None)
    return layout() if callable(layout) else [[c] for c in convs]


def conv_rates(model: nn.Module, model_name: str, convs: list[str], target: Target, adapter: Adapter) -> dict[str, float]:
    """Per-conv removal fractions. For structured pruning a ratio or compress rate follows the model's
    compress-rate layout (HRankPlus's indexing for the built-in CIFAR models, which leaves the outputs
    that feed the classifier dense; one entry per unit otherwise)."""
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
    layout = _layout(model, convs)
    rates = target.compress_rate if target.compress_rate is not None else (target.ratio,) * len(layout)
    if len(rates) != len(layout):
        raise BenchError(
            f"--compress-rate has {len(rates)} entries but {model_name} takes {len(layout)} "
            f"(e.g. {format_compress_rate((0.0,) + (0.3,) * (len(layout) - 1))})"
        )
    return {conv: rate for rate, entry in zip(rates, layout) for conv in entry}


def _keep_count(total: int, rate: float) -> int:
    # int() as in PFEC's and HRankPlus's code; the epsilon stops 0.7 * 10 from becoming 6.
    return max(1, int(total * (1.0 - rate) + 1e-9))


def keep_counts(
    unit_sizes: dict[str, int],
    unit_members: dict[str, list[str]],
    rates: dict[str, float],
) -> dict[str, int]:
    """A unit takes the rate of its first member conv that has one; units without a rate stay dense."""
    counts = {}
    for unit, size in unit_sizes.items():
        rate = next((rates[c] for c in unit_members[unit] if c in rates), 0.0)
        counts[unit] = _keep_count(size, rate)
    return counts


def global_keep_counts(unit_scores: dict[str, torch.Tensor], covered: list[str], ratio: float) -> dict[str, int]:
    """One threshold over all covered units (magnitude pruning's global ranking)."""
    flat = torch.cat([unit_scores[u].flatten().float() for u in covered])
    n_remove = int(flat.numel() * ratio)
    if n_remove == 0:
        return {u: unit_scores[u].numel() for u in unit_scores}
    threshold = torch.kthvalue(flat, n_remove).values
    counts = {u: s.numel() for u, s in unit_scores.items()}
    for u in covered:
        counts[u] = max(1, int((unit_scores[u].flatten().float() > threshold).sum()))
    return counts


def top_k_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask keeping the k highest scores; ties go to the lower index (stable, deterministic)."""
    order = torch.argsort(scores.flatten().float(), descending=True, stable=True)
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    mask[order[:k].cpu()] = True
    return mask.view(scores.shape)


# --- the whole step -------------------------------------------------------------------------------


class _Units:
    """The prunable units of a model: dependency groups of channels, or maskable conv weights."""

    def __init__(self, model: nn.Module, structured: bool, example_inputs: torch.Tensor):
        self.dg = build_graph(model, example_inputs) if structured else None
        self.groups = structured_groups(model, self.dg) if structured else {}
        if structured:
            self.layers = {n: model.get_submodule(n) for g in self.groups.values() for n in g.members}
            self.members = {u: list(g.members) for u, g in self.groups.items()}
            self.sizes = {u: g.size for u, g in self.groups.items()}
        else:
            self.layers = unstructured_layers(model)
            self.members = {n: [n] for n in self.layers}
            self.sizes = {n: m.weight.numel() for n, m in self.layers.items()}


def check_target(model: nn.Module, model_name: str, adapter: Adapter, target: Target, example_inputs: torch.Tensor) -> None:
    """Raise the error `prune` would raise for this target, without scoring anything (fail fast)."""
    units = _Units(model, adapter.kind == "structured", example_inputs)
    conv_rates(model, model_name, list(units.layers), target, adapter)


def prune(
    dense: nn.Module,
    model_name: str,
    adapter: Adapter,
    target: Target | None,
    *,
    example_inputs: torch.Tensor,
    calibration: list[tuple[torch.Tensor, torch.Tensor]],
    seed: int,
    reference: Structure | None = None,
) -> PrunedModel:
    """Prune a copy of `dense`. With `reference`, keep exactly its per-unit counts (random control)."""
    model = copy.deepcopy(dense)
    structured = adapter.kind == "structured"
    units = _Units(model, structured, example_inputs)
    dg, groups, layers, unit_members, unit_sizes = units.dg, units.groups, units.layers, units.members, units.sizes

    ctx = PruningContext(
        model=model,
        example_inputs=example_inputs,
        layers=layers,
        calibration=calibration,
        feature_maps=_feature_maps(model, layers),
        generator=torch.Generator().manual_seed(seed),
        seed=seed,
    )
    model.eval()
    with torch.set_grad_enabled(adapter.needs_gradients):
        scores = adapter.score(ctx)
    unit_scores = _group_scores(scores, groups) if structured else _weight_scores(scores, layers)

    if reference is not None:
        counts = _matched_counts(reference, unit_sizes, adapter.kind)
    else:
        rates = conv_rates(model, model_name, list(layers), target, adapter)
        if adapter.allocation == "global" and target.ratio is not None:
            covered = [u for u in unit_sizes if any(c in rates for c in unit_members[u])]
            counts = global_keep_counts(unit_scores, covered, target.ratio)
        else:
            counts = keep_counts(unit_sizes, unit_members, rates)

    keep = {u: top_k_mask(unit_scores[u], counts[u]) for u in unit_sizes}
    structure = Structure(adapter.kind, {u: (int(keep[u].sum()), unit_sizes[u]) for u in unit_sizes})
    if structured:
        _remove_channels(model, dg, groups, keep)
        return PrunedModel(model, structure)
    pruned = PrunedModel(model, structure, masks={u: keep[u] for u in unit_sizes if not bool(keep[u].all())})
    pruned.apply_masks()
    return pruned


def _feature_maps(model: nn.Module, layers: dict[str, nn.Module]) -> dict[str, str]:
    hint = getattr(model, "feature_maps", None)
    maps = hint() if callable(hint) else {}
    return {name: maps.get(name, name) for name in layers}


def _group_scores(scores: Scores, groups: dict[str, _Group]) -> dict[str, torch.Tensor]:
    """Mean of the member convs' channel scores, mapped into the group's root channel order."""
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
        out[unit] = torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))
    return out


def _weight_scores(scores: Scores, layers: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    out = {}
    for name, module in layers.items():
        s = scores.get(name)
        if s is None:
            s = torch.zeros_like(module.weight)
        if s.shape != module.weight.shape:
            raise BenchError(f"adapter returned scores of shape {tuple(s.shape)} for {name}, expected {tuple(module.weight.shape)}")
        out[name] = s.detach().cpu()
    return out


def _matched_counts(reference: Structure, unit_sizes: dict[str, int], kind: str) -> dict[str, int]:
    if reference.kind != kind or {u: t for u, (_, t) in reference.units.items()} != unit_sizes:
        raise BenchError("the reference structure does not match this model's prunable units")
    return {u: k for u, (k, _) in reference.units.items()}


def _remove_channels(model: nn.Module, dg: tp.DependencyGraph, groups: dict[str, _Group], keep: dict[str, torch.Tensor]) -> None:
    for unit, group in groups.items():
        removed = (~keep[unit]).nonzero().flatten().tolist()
        if not removed:
            continue
        pruning_group = dg.get_pruning_group(group.root, tp.prune_conv_out_channels, idxs=removed)
        if not dg.check_pruning_group(pruning_group):
            raise BenchError(f"cannot remove {len(removed)} channels from {unit}: it would leave a layer empty")
        pruning_group.prune()
