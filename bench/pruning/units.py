"""The prunable units of a model: torch-pruning's channel groups, shaped by a layout.

A unit is the set of channels kept or removed together: one dependency group, a conv whose output is
scattered back into a full-width stream, or several groups a layout ties into one channel set (a
ResNet stage's residual stream). This module also finds, for every conv, the BatchNorms that
normalize its channels and the point where the next layers see them (`feature_maps`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch_pruning as tp

from bench.errors import BenchError
from bench.models.cifar_resnet import ChannelShortcut
from bench.pruning.interface import FeatureMap
from bench.pruning.layouts import GENERIC, Layout
from bench.pruning.shortcut import CUSTOM_PRUNERS, check_structured_support


@dataclass
class Part:
    """Channels removed in one go: a torch-pruning group from `root`, or (`scatter` set) a conv whose
    output is put back into a full-width stream, removed with its BatchNorm only."""

    root: nn.Module
    members: dict[str, list[tuple[int, int]]]  # conv name → (member index, root index) pairs
    scatter: tuple[str, str] | None = None  # (its BatchNorm, the scatter slot) of a scattered conv
    residual: bool = False  # removing these channels removes identity routes (the group crosses an addition)
    norms: dict[str, dict[int, int]] = field(default_factory=dict)  # BatchNorm name → {root index: its channel}


@dataclass
class Group:
    """One pruning unit: parts that keep the same channel indices (a tied residual stream has one
    part per block output; every other unit has one part)."""

    size: int
    parts: list[Part]

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


def structured_groups(model: nn.Module, dg: tp.DependencyGraph) -> dict[str, Group]:
    """Prunable channel groups keyed by their first conv's module name (module order)."""
    names = {m: n for n, m in model.named_modules()}
    order = {n: i for i, n in enumerate(names.values())}
    head = classifier_of(model)
    groups: dict[str, Group] = {}
    for group in dg.get_all_groups(ignored_layers=[head] if head is not None else [], root_module_types=[nn.Conv2d]):
        members: dict[str, list[tuple[int, int]]] = {}
        norms: dict[str, dict[int, int]] = {}
        residual = False
        for item in group:
            module = item.dep.target.module
            if isinstance(module, nn.Conv2d) and item.dep.handler == tp.prune_conv_out_channels:
                members[names[module]] = [(int(i), int(r)) for i, r in zip(item.idxs, item.root_idxs)]
            elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module in names:
                norms[names[module]] = {int(r): int(i) for i, r in zip(item.idxs, item.root_idxs)}
            residual = residual or isinstance(module, ChannelShortcut) or str(getattr(module, "_grad_fn", "")).startswith("Add")
        if not members:
            continue
        root = group[0].dep.target.module
        name = min(members, key=order.__getitem__)
        groups[name] = Group(len(group[0].idxs), [Part(root, members, residual=residual, norms=norms)])
    return dict(sorted(groups.items(), key=lambda kv: order[kv[0]]))


def apply_layout(model: nn.Module, groups: dict[str, Group], layout: Layout) -> dict[str, Group]:
    """Turn torch-pruning's groups into the layout's units: scattered convs become units of their
    own (the full-width stream they feed is not pruned), tied sets become one unit."""
    names = {n: i for i, (n, _) in enumerate(model.named_modules())}
    groups = dict(groups)
    for conv, (bn, slot) in layout.scattered.items():
        if conv not in groups:
            raise BenchError(f"layout {layout.name!r}: {conv} does not start a channel group of this model")
        size = groups[conv].size
        groups[conv] = Group(size, [Part(model.get_submodule(conv), {conv: [(i, i) for i in range(size)]}, (bn, slot))])
    for tie in layout.tied:
        missing = [c for c in tie if c not in groups]
        if missing:
            raise BenchError(f"layout {layout.name!r}: {missing[0]} does not start a channel group of this model")
        sizes = {groups[c].size for c in tie}
        if len(sizes) != 1:
            raise BenchError(f"layout {layout.name!r}: the tied channel sets of {tie[0]} have different widths {sorted(sizes)}")
        groups[tie[0]] = Group(sizes.pop(), [part for c in tie for part in groups.pop(c).parts])
    return dict(sorted(groups.items(), key=lambda kv: names[kv[0]]))


def unstructured_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every conv weight is maskable (the convention of Liu et al. 2019 and the paper's MWP runs)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


class Units:
    """The prunable units of a model: the layout's channel groups, or maskable conv weights."""

    def __init__(self, model: nn.Module, structured: bool, example_inputs: torch.Tensor, layout: Layout):
        self.layout, self.model = layout, model
        self._norms: dict[str, nn.Module] | None = None  # computed on first use
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
        if self._norms is not None:
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
            for bn_name, root_to_bn in part.norms.items():
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
                    for bn_name, root_to_bn in part.norms.items():
                        if all(r in root_to_bn for _, r in pairs):
                            found.append((self.model.get_submodule(bn_name), tuple(root_to_bn[r] for _, r in sorted(pairs))))
                    if not found and conv in self.norms():  # a scattered conv's part holds only the conv itself
                        bn = self.norms()[conv]
                        found.append((bn, tuple(range(bn.num_features))))
                    out[conv] = found
        return out


def batchnorms_after(model: nn.Module, example_inputs: torch.Tensor) -> dict[str, nn.Module]:
    """conv → the BatchNorm on its output, for every prunable conv (what `PruningContext.norms` holds)."""
    return Units(model, True, example_inputs, GENERIC).norms()


# Activation modules, and the backward ops torch-pruning names traced activation calls by → ACTIVATIONS names.
ACTIVATION_MODULES = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hardswish", nn.SiLU: "silu", nn.GELU: "gelu",
                      nn.LeakyReLU: "leaky_relu", nn.ELU: "elu", nn.Mish: "mish"}
ACTIVATION_OPS = {"Relu": "relu", "Hardtanh": "relu6", "Hardswish": "hardswish", "Silu": "silu", "Gelu": "gelu",
                  "LeakyRelu": "leaky_relu", "Elu": "elu", "Mish": "mish"}


def _activation_after(node) -> str | None:
    for out in node.outputs if node else []:
        if type(out.module) in ACTIVATION_MODULES:
            return ACTIVATION_MODULES[type(out.module)]
        op = str(getattr(out.module, "_grad_fn", "")).removesuffix("Backward0").removesuffix("Backward1")
        if op in ACTIVATION_OPS:
            return ACTIVATION_OPS[op]
    return None


def feature_maps(model: nn.Module, units: Units) -> dict[str, FeatureMap]:
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


def _graph_feature_map(model, units: Units, part: Part, conv: str, pairs, names, order) -> FeatureMap:
    later = [bn for bn in part.norms if order[bn] > order[conv]]
    direct = units.norms().get(conv)
    bn = names[direct] if direct is not None else (min(later, key=order.__getitem__) if later else None)
    if bn is None or bn not in part.norms:
        return FeatureMap(conv)
    root_to_bn = part.norms[bn]
    if any(r not in root_to_bn for _, r in pairs):
        return FeatureMap(conv)
    channels = tuple(root_to_bn[r] for _, r in sorted(pairs))
    identity = channels == tuple(range(model.get_submodule(bn).num_features))
    return FeatureMap(bn, None if identity else channels, _activation_after(units.dg.module2node.get(model.get_submodule(bn))))
