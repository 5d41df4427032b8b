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
from bench.hooks import TrainingHook
from bench.pruning.interface import Adapter, PruningContext, Scores
from bench.pruning.shortcut import CUSTOM_PRUNERS, check_structured_support
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

    def hooks(self) -> list[TrainingHook]:
        """What retraining needs to keep this model pruned: the fixed masks, re-applied every step."""
        return [_MaskHook(self)] if self.masks else []


class _MaskHook(TrainingHook):
    def __init__(self, pruned: PrunedModel):
        self.pruned = pruned

    def after_step(self, model: nn.Module) -> None:
        self.pruned.apply_masks(model)


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
    check_structured_support(model)  # refuse what torch-pruning cannot prune correctly (grouped convs)
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

    def norms(self) -> dict[str, nn.Module]:
        """conv → the BatchNorm it feeds directly (from the dependency graph)."""
        if self.dg is None:
            return {}
        out = {}
        for name, conv in self.layers.items():
            node = self.dg.module2node.get(conv)
            bns = [n.module for n in (node.outputs if node else []) if isinstance(n.module, nn.modules.batchnorm._BatchNorm)]
            if len(bns) == 1:
                out[name] = bns[0]
        return out


def batchnorms_after(model: nn.Module, example_inputs: torch.Tensor) -> dict[str, nn.Module]:
    """conv → the BatchNorm on its output, for every prunable conv (what `PruningContext.norms` holds)."""
    return _Units(model, True, example_inputs).norms()


@dataclass
class _Plan:
    units: _Units
    keep: dict[str, torch.Tensor]  # unit → bool mask over its channels or weights
    structure: Structure


def check_target(model: nn.Module, model_name: str, adapter: Adapter, target: Target, example_inputs: torch.Tensor) -> None:
    """Raise the error `prune` would raise for this target, without scoring anything (fail fast)."""
    units = _Units(model, adapter.kind == "structured", example_inputs)
    conv_rates(model, model_name, list(units.layers), target, adapter)


def plan(
    model: nn.Module,
    model_name: str,
    adapter: Adapter,
    target: Target | None,
    *,
    example_inputs: torch.Tensor,
    calibration: list[tuple[torch.Tensor, torch.Tensor]],
    seed: int,
    reference: Structure | None = None,
    step: Step | None = None,
    units: _Units | None = None,
) -> _Plan:
    """Score `model` with the adapter and decide what each unit keeps; `model` is not changed."""
    structured = adapter.kind == "structured"
    units = units or _Units(model, structured, example_inputs)
    ctx = PruningContext(
        model=model,
        example_inputs=example_inputs,
        layers=units.layers,
        calibration=calibration,
        feature_maps=_feature_maps(model, units.layers),
        generator=torch.Generator().manual_seed(seed),
        seed=seed,
        norms=units.norms(),
    )
    was_training = model.training
    model.eval()
    try:
        with torch.set_grad_enabled(adapter.needs_gradients):
            scores = adapter.score(ctx)
    finally:
        model.train(was_training)
    unit_scores = _group_scores(scores, units.groups) if structured else _weight_scores(scores, units.layers)
    for unit, mask in (step.masks if step else {}).items():
        unit_scores[unit] = unit_scores[unit].masked_fill(~mask.cpu(), float("-inf"))  # removed earlier: stays removed

    if step is not None and step.original is not None and set(step.original.units) != set(units.sizes):
        raise BenchError("iterative pruning: the model's prunable units changed between steps")
    if reference is not None:
        counts = _matched_counts(reference, {u: _total(u, units, step) for u in units.sizes}, adapter.kind)
    else:
        counts = _target_counts(model, model_name, adapter, target, units, unit_scores, step)
    keep = {u: top_k_mask(unit_scores[u], counts[u]) for u in units.sizes}
    structure = Structure(adapter.kind, {u: (int(keep[u].sum()), _total(u, units, step)) for u in units.sizes})
    return _Plan(units, keep, structure)


def _total(unit: str, units: _Units, step: Step | None) -> int:
    """A unit's size in the dense model, against which every step's rate is counted."""
    return step.original.units[unit][1] if step is not None and step.original is not None else units.sizes[unit]


def _target_counts(
    model: nn.Module,
    model_name: str,
    adapter: Adapter,
    target: Target,
    units: _Units,
    unit_scores: dict[str, torch.Tensor],
    step: Step | None,
) -> dict[str, int]:
    fraction = step.fraction if step is not None else 1.0
    original = {u: _total(u, units, step) for u in units.sizes}
    rates = {c: r * fraction for c, r in conv_rates(model, model_name, list(units.layers), target, adapter).items()}
    if adapter.allocation == "global" and target.ratio is not None:
        covered = [u for u in units.sizes if any(c in rates for c in units.members[u])]
        total = sum(original[u] for u in covered)
        already_removed = total - sum(units.sizes[u] for u in covered)  # channels removed by earlier steps
        return global_keep_counts(unit_scores, covered, int(total * target.ratio * fraction) - already_removed)
    counts = keep_counts(original, units.members, rates)
    return {u: min(counts[u], units.sizes[u]) for u in units.sizes}


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
    step: Step | None = None,
) -> PrunedModel:
    """Prune a copy of `dense`. With `reference`, keep exactly its per-unit counts (random control);
    with `step`, prune one step of an iterative schedule."""
    model = copy.deepcopy(dense)
    p = plan(
        model, model_name, adapter, target,
        example_inputs=example_inputs, calibration=calibration, seed=seed, reference=reference, step=step,
    )
    if adapter.kind == "structured":
        _remove_channels(model, p.units.dg, p.units.groups, p.keep)
        return PrunedModel(model, p.structure)
    pruned = PrunedModel(model, p.structure, masks={u: p.keep[u] for u in p.units.sizes if not bool(p.keep[u].all())})
    pruned.apply_masks()
    return pruned


class ZeroingPruner:
    """Soft pruning (the `SoftPruner` handed to retrain hooks): zero, in place, the conv filters (or
    weights) the adapter would remove now, leaving them free to grow back. Filters are zeroed in
    every conv of a channel group, as removing the group would remove them; like SFP's reference
    code, BatchNorm parameters are left alone."""

    def __init__(self, model, model_name, adapter, target, *, example_inputs, calibration, seed):
        self.args = dict(model_name=model_name, adapter=adapter, target=target)
        self.kw = dict(example_inputs=example_inputs, calibration=calibration, seed=seed)
        self.model = model
        self.units = _Units(model, adapter.kind == "structured", example_inputs)  # the model keeps its shape

    @torch.no_grad()
    def zero(self, model: nn.Module) -> None:
        if model is not self.model:
            raise ValueError("ZeroingPruner.zero: pass the model it was built for")
        p = plan(model, **self.args, **self.kw, units=self.units)
        if self.args["adapter"].kind != "structured":
            for unit, keep in p.keep.items():
                weight = self.units.layers[unit].weight
                weight.mul_(keep.to(weight.device, weight.dtype))
            return
        for unit, group in self.units.groups.items():
            removed_roots = set((~p.keep[unit]).nonzero().flatten().tolist())
            for conv, pairs in group.members.items():
                idxs = [member for member, root in pairs if root in removed_roots]
                if idxs:
                    module = model.get_submodule(conv)
                    module.weight[idxs] = 0
                    if module.bias is not None:
                        module.bias[idxs] = 0


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
