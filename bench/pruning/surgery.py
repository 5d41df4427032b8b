"""Removing channels from a model in place: torch-pruning for dependency groups, and for a
full-width layout the scatter back into the residual stream with the removed channels' constants,
which makes removal compute exactly what zeroing the filters computes. Afterwards every parameter-free
shortcut adds by position, so identity routes depend only on widths (`identity_routes`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_pruning as tp

from bench.errors import BenchError
from bench.models.cifar_resnet import ChannelScatter, ChannelShortcut
from bench.pruning.layouts import model_layouts
from bench.pruning.units import Group, Units, batchnorms_after


def zero_filters(model: nn.Module, groups: dict[str, Group], removed: dict[str, list[int]]) -> None:
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


def remove_channels(model: nn.Module, units: Units, keep: dict[str, torch.Tensor], example_inputs: torch.Tensor) -> None:
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
    model: nn.Module, units: Units, removed: dict[str, list[int]], example_inputs: torch.Tensor
) -> dict[str, torch.Tensor]:
    """consumer conv → what the removed input channels add to its output. With their filters zeroed
    (in eval mode) those channels carry input-independent constants (the BatchNorm's shift through
    the activation); through a zero-padded conv that is a fixed map, measured here on a zeroed copy."""
    zeroed = copy.deepcopy(model).eval()
    zero_filters(zeroed, units.groups, removed)
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


def rescale_filters(model: nn.Module, reference: nn.Module, example_inputs: torch.Tensor, layout: str) -> None:
    """Give every filter of a conv that a BatchNorm normalizes the mean filter norm its conv has in
    `reference` (the dense network), and scale that BatchNorm's running statistics with it.

    The function is unchanged: a BatchNorm divides each channel by its own standard deviation, so a
    channel's scale cancels (its eps is compensated in the running
    variance). What changes is how the network trains: the gradient of
    a weight whose scale cancels shrinks with its norm, so a filter at 20x the norm trains at 1/400 of
    the learning rate. Soft pruning regrows zeroed filters to such norms (SFP); rescaling lets the
    protocol retrain its network at the learning rates it gives every other method's. Zero filters
    stay zero; a constant the `layout` adds to a conv's output (a full-width block's `conv2_offset`)
    scales with its filters."""
    dense = dict(reference.named_modules())
    offsets = model_layouts(model)[layout].offsets
    norms_after = batchnorms_after(model, example_inputs)  # traced with autograd, so outside no_grad
    with torch.no_grad():
        for name, bn in norms_after.items():
            offset = model.get_submodule(offsets[name].rpartition(".")[0]) if name in offsets else None
            offset = getattr(offset, offsets[name].rpartition(".")[2]) if offset is not None else None
            _rescale(model.get_submodule(name), bn, dense[name].weight.flatten(1).norm(dim=1).mean(), offset)


def _rescale(conv: nn.Module, bn: nn.Module, target: torch.Tensor, offset: torch.Tensor | None) -> None:
    norms = conv.weight.flatten(1).norm(dim=1)
    scale = torch.where(norms > 0, target / norms.clamp_min(torch.finfo(norms.dtype).tiny), torch.ones_like(norms))
    conv.weight.mul_(scale.view(-1, *[1] * (conv.weight.dim() - 1)))
    if conv.bias is not None:
        conv.bias.mul_(scale)
    if offset is not None:
        offset.mul_(scale.view(-1, 1, 1))  # a (…, C, H, W) map
    if bn.running_mean is not None:
        bn.running_mean.mul_(scale)
        # var' + eps = scale² (var + eps): the eval-mode function is unchanged exactly, eps included
        bn.running_var.copy_((scale.square() * (bn.running_var + bn.eps) - bn.eps).clamp_min(0))
