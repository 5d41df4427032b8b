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
import torch.nn.functional as F
import torch_pruning as tp

from bench.errors import BenchError
from bench.hooks import TrainingHook
from bench.models.cifar_resnet import ChannelScatter, ChannelShortcut
from bench.pruning.interface import Adapter, FeatureMap, PruningContext, Scores
from bench.pruning.layouts import GENERIC, Layout, model_layouts, resolve_layout
from bench.pruning.shortcut import CUSTOM_PRUNERS, check_structured_support
from bench.pruning.targets import Target, check_rate, format_compress_rate


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


@dataclass
class _Part:
    """Channels removed in one go: a torch-pruning group from `root`, or (`scatter` set) a conv whose
    output is put back into a full-width stream, removed with its BatchNorm only."""

    root: nn.Module
    members: dict[str, list[tuple[int, int]]]  # conv name → (member index, root index) pairs
    scatter: tuple[str, str] | None = None  # (its BatchNorm, the scatter slot) of a scattered conv
    residual: bool = False  # removing these channels removes identity routes (the group crosses an addition)
    norms: dict[str, tuple[str, dict[int, int]]] = field(default_factory=dict)  # BatchNorm → (root index → its channel)


@dataclass
class _Group:
    """One pruning unit: parts that keep the same channel indices (a tied residual stream has one
    part per block output; every other unit has one part)."""

    size: int
    parts: list[_Part]

    @property
    def members(self) -> dict[str, list[tuple[int, int]]]:
        return {conv: pairs for part in self.parts for conv, pairs in part.members.items()}


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
        norms: dict[str, tuple[str, dict[int, int]]] = {}
        residual = False
        for item in group:
            module = item.dep.target.module
            if isinstance(module, nn.Conv2d) and item.dep.handler == tp.prune_conv_out_channels:
                members[names[module]] = [(int(i), int(r)) for i, r in zip(item.idxs, item.root_idxs)]
            elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module in names:
                norms[names[module]] = (names[module], {int(r): int(i) for i, r in zip(item.idxs, item.root_idxs)})
            residual = residual or isinstance(module, ChannelShortcut) or str(getattr(module, "_grad_fn", "")).startswith("Add")
        if not members:
            continue
        root = group[0].dep.target.module
        name = min(members, key=order.__getitem__)
        groups[name] = _Group(len(group[0].idxs), [_Part(root, members, residual=residual, norms=norms)])
    return dict(sorted(groups.items(), key=lambda kv: order[kv[0]]))


def apply_layout(model: nn.Module, groups: dict[str, _Group], layout: Layout) -> dict[str, _Group]:
    """Turn torch-pruning's groups into the layout's units: scattered convs become units of their
    own (the full-width stream they feed is not pruned), tied sets become one unit."""
    names = {n: i for i, (n, _) in enumerate(model.named_modules())}
    groups = dict(groups)
    for conv, (bn, slot) in layout.scattered.items():
        if conv not in groups:
            raise BenchError(f"layout {layout.name!r}: {conv} does not start a channel group of this model")
        size = groups[conv].size
        groups[conv] = _Group(size, [_Part(model.get_submodule(conv), {conv: [(i, i) for i in range(size)]}, (bn, slot))])
    for tie in layout.tied:
        missing = [c for c in tie if c not in groups]
        if missing:
            raise BenchError(f"layout {layout.name!r}: {missing[0]} does not start a channel group of this model")
        sizes = {groups[c].size for c in tie}
        if len(sizes) != 1:
            raise BenchError(f"layout {layout.name!r}: the tied channel sets of {tie[0]} have different widths {sorted(sizes)}")
        groups[tie[0]] = _Group(sizes.pop(), [part for c in tie for part in groups.pop(c).parts])
    return dict(sorted(groups.items(), key=lambda kv: names[kv[0]]))


def unstructured_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every conv weight is maskable (the convention of Liu et al. 2019 and the paper's MWP runs)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


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


class _Units:
    """The prunable units of a model: the layout's channel groups, or maskable conv weights."""

    def __init__(self, model: nn.Module, structured: bool, example_inputs: torch.Tensor, layout: Layout):
        self.layout, self.model = layout, model
        self.dg = build_graph(model, example_inputs) if structured else None
        self.groups = apply_layout(model, structured_groups(model, self.dg), layout) if structured else {}
        if structured:
            self.layers = {n: model.get_submodule(n) for g in self.groups.values() for n in g.members}
            self.members = {u: list(g.members) for u, g in self.groups.items()}
            self.sizes = {u: g.size for u, g in self.groups.items()}
        else:
            self.layers = unstructured_layers(model)
            self.members = {n: [n] for n in self.layers}
            self.sizes = {n: m.weight.numel() for n, m in self.layers.items()}

    def norms(self) -> dict[str, nn.Module]:
        """conv → the BatchNorm that normalizes exactly its output channels: the one the dependency
        graph shows right after it, or (BatchNorm layers that trace as functional ops, e.g. timm's
        BatchNormAct2d) the BatchNorm of its channel group with the conv's width and its channel order."""
        if self.dg is None:
            return {}
        if getattr(self, "_norms", None) is not None:
            return self._norms
        out = {}
        for name, conv in self.layers.items():
            node = self.dg.module2node.get(conv)
            bns = [n.module for n in (node.outputs if node else []) if isinstance(n.module, nn.modules.batchnorm._BatchNorm)]
            if len(bns) == 1:
                out[name] = bns[0]
                continue
            part = next(p for g in self.groups.values() for p in g.parts if name in p.members)
            pairs = sorted(part.members[name])
            for bn_name, (_, root_to_bn) in part.norms.items():
                bn = self.model.get_submodule(bn_name)
                if bn.num_features == len(pairs) and [root_to_bn.get(r) for _, r in pairs] == list(range(len(pairs))):
                    if bn_name.rpartition(".")[0] == name.rpartition(".")[0]:  # the same block: this conv's own norm
                        out[name] = bn
                        break
        self._norms = out
        return out


    def normalized_by(self) -> dict[str, list[tuple[nn.Module, tuple[int, ...]]]]:
        """conv → every BatchNorm of its channel group that normalizes all of its channels, with the
        BatchNorm channel of each conv channel (one for a post-activation conv, each later layer's
        for a conv whose output is concatenated into later layers' inputs)."""
        if self.dg is None:
            return {}
        out: dict[str, list[tuple[nn.Module, tuple[int, ...]]]] = {}
        for group in self.groups.values():
            for part in group.parts:
                for conv, pairs in part.members.items():
                    found = []
                    for bn_name, (_, root_to_bn) in part.norms.items():
                        if all(r in root_to_bn for _, r in pairs):
                            found.append((self.model.get_submodule(bn_name), tuple(root_to_bn[r] for _, r in sorted(pairs))))
                    if not found and conv in self.norms():  # a scattered conv's part holds only the conv itself
                        bn = self.norms()[conv]
                        found.append((bn, tuple(range(bn.num_features))))
                    out[conv] = found
        return out


def batchnorms_after(model: nn.Module, example_inputs: torch.Tensor) -> dict[str, nn.Module]:
    """conv → the BatchNorm on its output, for every prunable conv (what `PruningContext.norms` holds)."""
    return _Units(model, True, example_inputs, GENERIC).norms()


def layout_for(model: nn.Module, model_name: str, adapter: Adapter, requested: str | None = None) -> Layout:
    """The layout `adapter` prunes `model` with: `requested`, else the adapter's own, else the model's default."""
    return resolve_layout(model, model_name, adapter.layout, requested)


@dataclass
class _Plan:
    units: _Units
    keep: dict[str, torch.Tensor]  # unit → bool mask over its channels or weights
    structure: Structure


def check_target(
    model: nn.Module, model_name: str, adapter: Adapter, target: Target, example_inputs: torch.Tensor, layout: str | None = None
) -> Layout:
    """Raise the error `prune` would raise for this target and layout, without scoring anything (fail
    fast); return the layout."""
    resolved = layout_for(model, model_name, adapter, layout)
    units = _Units(model, adapter.kind == "structured", example_inputs, resolved)
    conv_rates(model_name, resolved, units.members, target, adapter)
    return resolved


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
        units = _Units(model, structured, example_inputs, layout_for(model, model_name, adapter, layout))
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
    )
    was_training = model.training
    model.eval()
    try:
        with torch.set_grad_enabled(adapter.needs_gradients):
            scores = adapter.score(ctx)
    finally:
        model.train(was_training)
    who = adapter.name or type(adapter).__name__
    unit_scores = _group_scores(scores, units.groups, who) if structured else _weight_scores(scores, units.layers, who)
    for unit, mask in (step.masks if step else {}).items():
        unit_scores[unit] = unit_scores[unit].masked_fill(~mask.cpu(), float("-inf"))  # removed earlier: stays removed

    if step is not None and step.original is not None and set(step.original.units) != set(units.sizes):
        raise BenchError("iterative pruning: the model's prunable units changed between steps")
    if reference is not None:
        counts = _matched_counts(reference, {u: _total(u, units, step) for u in units.sizes}, adapter.kind)
    else:
        counts = _target_counts(model_name, adapter, target, units, unit_scores, step)
    keep = {u: top_k_mask(unit_scores[u], counts[u]) for u in units.sizes}
    structure = Structure(
        adapter.kind,
        {u: (int(keep[u].sum()), _total(u, units, step)) for u in units.sizes},
        units.layout.name if structured else None,
    )
    return _Plan(units, keep, structure)


def _total(unit: str, units: _Units, step: Step | None) -> int:
    """A unit's size in the dense model, against which every step's rate is counted."""
    return step.original.units[unit][1] if step is not None and step.original is not None else units.sizes[unit]


def _target_counts(
    model_name: str,
    adapter: Adapter,
    target: Target,
    units: _Units,
    unit_scores: dict[str, torch.Tensor],
    step: Step | None,
) -> dict[str, int]:
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
    target: Target | None,
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
    removing the zeroed channels at the end computes exactly what the zeroed network computes."""

    def __init__(self, model, model_name, adapter, target, *, example_inputs, calibration, seed, layout=None):
        self.args = dict(model_name=model_name, adapter=adapter, target=target)
        self.kw = dict(example_inputs=example_inputs, calibration=calibration, seed=seed)
        self.model = model
        resolved = layout_for(model, model_name, adapter, layout)
        if adapter.kind == "structured" and not resolved.full_width:
            offered = [n for n, lay in model_layouts(model).items() if lay.full_width]
            raise BenchError(
                f"{adapter.name} prunes softly during retraining, which needs a full-width layout (the network it "
                f"validates and the one it reports must compute the same function); {model_name}'s {resolved.name!r} "
                f"is not one" + (f" (use --layout {offered[0]})" if offered else " and the model offers none")
            )
        self.units = _Units(model, adapter.kind == "structured", example_inputs, resolved)  # the model keeps its shape

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
        _zero_filters(model, self.units.groups, {u: (~k).nonzero().flatten().tolist() for u, k in p.keep.items()})


def _zero_filters(model: nn.Module, groups: dict[str, _Group], removed: dict[str, list[int]]) -> None:
    """Zero the filters (and biases) of the removed channels in every member conv of each unit."""
    for unit, group in groups.items():
        removed_roots = set(removed[unit])
        for conv, pairs in group.members.items():
            idxs = [member for member, root in pairs if root in removed_roots]
            if idxs:
                module = model.get_submodule(conv)
                module.weight[idxs] = 0
                if module.bias is not None:
                    module.bias[idxs] = 0


ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Mish, nn.PReLU)


def feature_maps(model: nn.Module, units: _Units) -> dict[str, FeatureMap]:
    """Where each conv's channels are seen next (HRankPlus's points): the model's hint where it gives
    one; else after the BatchNorm that reads the conv's output (the conv's own, or in a
    pre-activation network the next layer's, on this conv's channels) and the activation after that
    BatchNorm; else the conv's output itself."""
    hint = getattr(model, "feature_maps", None)
    given = hint() if callable(hint) else {}
    names = {m: n for n, m in model.named_modules()}
    order = {n: i for i, n in enumerate(names.values())}
    out: dict[str, FeatureMap] = {}
    for group in units.groups.values():
        for part in group.parts:
            for conv, pairs in part.members.items():
                if conv in given:
                    point = given[conv]
                    out[conv] = FeatureMap(point) if isinstance(point, str) else FeatureMap(point[0], tuple(point[1]))
                    continue
                out[conv] = _graph_feature_map(model, units, part, conv, pairs, names, order)
    return out


def _graph_feature_map(model, units: _Units, part: _Part, conv: str, pairs, names, order) -> FeatureMap:
    later = [bn for bn in part.norms if order[bn] > order[conv]]
    direct = units.norms().get(conv)
    bn = names[direct] if direct is not None else (min(later, key=order.__getitem__) if later else None)
    if bn is None or bn not in part.norms:
        return FeatureMap(conv)
    root_to_bn = part.norms[bn][1]
    if any(r not in root_to_bn for _, r in pairs):
        return FeatureMap(conv)
    channels = tuple(root_to_bn[r] for _, r in sorted(pairs))
    node = units.dg.module2node.get(model.get_submodule(bn))
    acts = [n.module for n in (node.outputs if node else []) if isinstance(n.module, ACTIVATIONS)]
    identity = channels == tuple(range(model.get_submodule(bn).num_features))
    return FeatureMap(bn, None if identity else channels, names[acts[0]] if acts else None)


def _group_scores(scores: Scores, groups: dict[str, _Group], who: str) -> dict[str, torch.Tensor]:
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


def remove_channels(model: nn.Module, units: _Units, keep: dict[str, torch.Tensor], example_inputs: torch.Tensor) -> None:
    """Remove every unit's dropped channels from `model` in place. Graph parts go through torch-pruning;
    scattered convs lose their filters and BatchNorm channels and put the rest back at full width,
    with the removed channels' constants (measured on the zeroed network) so that, in a full-width
    layout, the result computes what zeroing the filters computes. Shortcuts then add by position."""
    removed = {u: (~keep[u]).nonzero().flatten().tolist() for u in units.groups}
    offsets = _removed_input_constants(model, units, removed, example_inputs) if units.layout.full_width else {}
    for unit, group in units.groups.items():
        if not removed[unit]:
            continue
        for part in group.parts:
            if part.scatter is not None:
                continue
            pruning_group = units.dg.get_pruning_group(part.root, tp.prune_conv_out_channels, idxs=removed[unit])
            if not units.dg.check_pruning_group(pruning_group):
                raise BenchError(f"cannot remove {len(removed[unit])} channels from {unit}: it would leave a layer empty")
            pruning_group.prune()
    for consumer, offset in offsets.items():
        _add_offset(model, units.layout.offsets[consumer], offset)
    for unit, group in units.groups.items():
        for part in group.parts:
            if part.scatter is not None and removed[unit]:
                conv = next(iter(part.members))
                _scatter_conv(model, conv, *part.scatter, units.layout.offsets.get(conv), removed[unit])
    for module in model.modules():
        if isinstance(module, ChannelShortcut):
            module.make_positional()


@torch.no_grad()
def _removed_input_constants(
    model: nn.Module, units: _Units, removed: dict[str, list[int]], example_inputs: torch.Tensor
) -> dict[str, torch.Tensor]:
    """consumer conv → what the removed input channels add to its output. With their filters zeroed
    (in eval mode) those channels carry input-independent constants (the BatchNorm's shift through
    the activation); through a zero-padded conv that is a fixed map, measured here on a zeroed copy."""
    zeroed = copy.deepcopy(model).eval()
    _zero_filters(zeroed, units.groups, removed)
    names = {m: n for n, m in model.named_modules()}
    wanted: dict[str, list[int]] = {}
    for unit, group in units.groups.items():
        for part in group.parts:
            if part.scatter is not None or not removed[unit]:
                continue
            pruning_group = units.dg.get_pruning_group(part.root, tp.prune_conv_out_channels, idxs=removed[unit])
            for item in pruning_group:
                if item.dep.handler == tp.prune_conv_in_channels:
                    wanted.setdefault(names[item.dep.target.module], []).extend(int(i) for i in item.idxs)
    missing = sorted(set(wanted) - set(units.layout.offsets))
    if missing:
        raise BenchError(f"layout {units.layout.name!r} has no offset slot for {missing[0]}, which loses input channels")
    inputs: dict[str, torch.Tensor] = {}
    handles = [
        zeroed.get_submodule(name).register_forward_pre_hook(lambda _m, args, name=name: inputs.__setitem__(name, args[0]))
        for name in wanted
    ]
    try:
        zeroed(example_inputs[:1])
    finally:
        for h in handles:
            h.remove()
    out = {}
    for name, idxs in wanted.items():
        conv = zeroed.get_submodule(name)
        x = torch.zeros_like(inputs[name])
        x[:, idxs] = inputs[name][:, idxs]
        out[name] = F.conv2d(x, conv.weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)[0]
    return out


def _add_offset(model: nn.Module, path: str, offset: torch.Tensor) -> None:
    parent, _, attr = path.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    current = getattr(owner, attr)
    setattr(owner, attr, offset.detach().clone() if current is None else current + offset)


@torch.no_grad()
def _scatter_conv(model: nn.Module, conv_name: str, bn_name: str, slot: str, offset: str | None, removed: list[int]) -> None:
    """Remove `removed` output channels of a conv and its BatchNorm, and put the kept ones back into
    the full-width stream through the ChannelScatter in `slot`; each removed channel is filled with
    the constant its BatchNorm outputs for a zero input (eval mode), as SFP's small model adds."""
    conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.running_mean is None:
        raise BenchError(f"full-width pruning of {conv_name} needs a BatchNorm with running statistics at {bn_name}")
    zero = torch.zeros(1, bn.num_features, 1, 1, device=bn.running_mean.device, dtype=bn.running_mean.dtype)
    constant = F.batch_norm(zero, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps).flatten()
    kept = [i for i in range(bn.num_features) if i not in set(removed)]
    parent, _, attr = slot.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    current = getattr(owner, attr)
    if isinstance(current, ChannelScatter):  # an earlier step scattered this conv already
        index, fill = current.index, current.fill.clone()
        fill[index[removed]] = constant[removed].to(fill)
        index = index[kept]
    else:
        index = torch.tensor(kept, device=zero.device)
        fill = torch.zeros(bn.num_features, device=zero.device)
        fill[removed] = constant[removed].float()
    tp.prune_conv_out_channels(conv, removed)
    tp.prune_batchnorm_out_channels(bn, removed)
    if offset is not None:
        o_parent, _, o_attr = offset.rpartition(".")
        o_owner = model.get_submodule(o_parent) if o_parent else model
        if getattr(o_owner, o_attr) is not None:
            setattr(o_owner, o_attr, getattr(o_owner, o_attr)[kept])
    setattr(owner, attr, ChannelScatter(index, fill))


def identity_routes(model: nn.Module) -> float | None:
    """The fraction of the dense network's identity routes (shortcut channel paths) the pruned
    network still has; None for a model without parameter-free shortcuts."""
    shortcuts = [m for m in model.modules() if isinstance(m, ChannelShortcut)]
    if not shortcuts:
        return None
    return sum(m.src.numel() for m in shortcuts) / sum(m.dense_routes for m in shortcuts)
