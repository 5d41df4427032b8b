"""Pruning layouts: which layers a `--ratio` prunes, and what happens to residual-stream channels.

Methods differ as much in *where* they prune a residual network as in how they score channels, so a
layout is part of a method's definition (each adapter names its reference's layout) and the random
control always uses the method's layout. A layout has three parts:

- `entries`: the conv names each entry of a compress-rate list prunes (a `--ratio` gives every entry
  the same rate); convs in no entry stay dense.
- `tied`: sets of convs whose output channels are one channel set, kept or removed together
  (a ResNet stage's residual stream, as DepGraph couples an identity addition).
- `scattered`: convs whose outputs feed a residual stream that stays at full width. Their kept
  channels are scattered back into the full-width stream and every removed channel keeps the
  constant it produced when its filter was zeroed (SFP's small model), so removing channels computes
  exactly what zeroing their filters computes. `offsets` name, for a full-width layout, the buffer in
  which a conv receives the constant contribution of removed input channels.
- `relative`: convs whose rate applies to the summed kept widths of other convs (their pruned input)
  rather than to their own width (HRankPlus's DenseNet transitions).

Wherever a layout removes residual-stream channels without scattering them, the parameter-free
shortcuts of the pruned network add by *position* (HRankPlus's pruned ResNets pad by the pruned
widths): how many identity routes survive then depends only on the widths, so a method and its
random control always keep the same number.

Models offer their layouts as plain data (`pruning_layouts()`: name → dict with these keys, the first
being the model's default); models without one get `DEPENDENCY_GRAPH`: every conv group torch-pruning
finds, coupled as its dependency graph couples them, one compress-rate entry per group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn as nn

from bench.errors import BenchError

DEPENDENCY_GRAPH = "dependency-graph"


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    entries: tuple[tuple[str, ...], ...] | None  # None: one entry per dependency group (generic models)
    tied: tuple[tuple[str, ...], ...] = ()
    scattered: dict[str, tuple[str, str]] = field(default_factory=dict)  # conv → (its BatchNorm, scatter slot)
    offsets: dict[str, str] = field(default_factory=dict)  # consuming conv → buffer added to its output
    relative: dict[str, tuple[str, ...]] = field(default_factory=dict)  # conv → convs whose kept widths its rate applies to

    @classmethod
    def from_dict(cls, name: str, data: dict) -> "Layout":
        return cls(
            name=name,
            description=data["description"],
            entries=tuple(tuple(e) for e in data["entries"]),
            tied=tuple(tuple(t) for t in data.get("tied", ())),
            scattered={c: tuple(v) for c, v in data.get("scattered", {}).items()},
            offsets=dict(data.get("offsets", {})),
            relative={c: tuple(v) for c, v in data.get("relative", {}).items()},
        )

    @property
    def full_width(self) -> bool:
        return bool(self.scattered)

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description}


GENERIC = Layout(
    DEPENDENCY_GRAPH,
    "every conv's output channels, coupled as torch-pruning's dependency graph couples them "
    "(an identity addition ties the channels it adds); one compress-rate entry per group",
    None,
)


def model_layouts(model: nn.Module) -> dict[str, Layout]:
    """The layouts a model offers, its default first."""
    offer = getattr(model, "pruning_layouts", None)
    if not callable(offer):
        return {GENERIC.name: GENERIC}
    return {name: Layout.from_dict(name, data) for name, data in offer().items()}


def resolve_layout(model: nn.Module, model_name: str, preferred: str | None, requested: str | None = None) -> Layout:
    """The layout a run prunes with: the one asked for, else the adapter's preferred one where the
    model offers it, else the model's default."""
    layouts = model_layouts(model)
    if requested is not None:
        if requested not in layouts:
            raise BenchError(f"model {model_name!r} has no pruning layout {requested!r} (known: {', '.join(layouts)})")
        return layouts[requested]
    if preferred is not None and preferred in layouts:
        return layouts[preferred]
    return next(iter(layouts.values()))
