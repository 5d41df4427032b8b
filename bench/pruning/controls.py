"""The controls' pruner: random pruning of the method's kind. Matched to the method's structure it is
the random control (same kept count per unit, in the same layout); at one rate per layout entry it
is the allocation control (bench.pruning.cost.uniform_at_flops). The registry finds it by name, so
the core imports no adapter."""

from __future__ import annotations

from bench.pruning.interface import Adapter
from bench.pruning.registry import get_adapter

__all__ = ["random_adapter", "random_control_adapter"]


def random_adapter(kind: str) -> Adapter:
    """Random pruning of a kind; matched to a structure, it keeps the same per-unit counts in its layout."""
    random_cls = get_adapter("random")
    return random_cls(random_cls.Hparams(kind=kind))


def random_control_adapter(method: Adapter) -> Adapter:
    """A fresh random pruner for `method`'s controls (fresh: the allocation control sets its rounding)."""
    return random_adapter(method.kind)
