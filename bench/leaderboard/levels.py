"""Compression levels: which entries are pruned to the same degree and may be ranked together.

The rule: within one dense baseline (dataset, model, dense recipe and weights) and one kind of pruning
(structured or unstructured: a 50% sparse network is not a network with half its channels), entries
with the same target (ratio, compress rate or named config) share a level. Two targets share a level
too when their FLOPs agree: targets are taken in order of their smallest FLOPs and merged while the
method FLOPs of every entry in the merged level stay within 1% of the dense model's FLOPs of each
other. Protocols play no part, so one level means the same networks under every protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

FLOPS_TOLERANCE = 0.01  # of the dense model's FLOPs

RULE = (
    "A ranked table holds one compression level: the same dense baseline, the same kind of pruning "
    "(structured or unstructured) and the same target (ratio, compress rate or named config); different "
    f"targets share a level only when all their entries' FLOPs lie within {FLOPS_TOLERANCE:.0%} of the "
    "dense model's FLOPs of each other. Entries at different levels meet only on the accuracy-vs-FLOPs plot."
)


@dataclass(frozen=True)
class Level:
    kind: str
    targets: tuple[str, ...]  # target descriptions, in FLOPs order

    @property
    def label(self) -> str:
        return " ≈ ".join(self.targets)

    @property
    def text(self) -> str:
        return f"{self.label} ({self.kind})"

    @property
    def key(self) -> dict[str, Any]:
        return {"kind": self.kind, "targets": list(self.targets)}


def _merge(spans: list[tuple[int, int, str]], tolerance: float) -> list[list[str]]:
    """Targets (min FLOPs, max FLOPs, description), sorted, merged while the span stays within tolerance."""
    levels: list[list[str]] = []
    low = high = 0
    for lo, hi, target in spans:
        if levels and max(high, hi) - low <= tolerance:
            levels[-1].append(target)
            high = max(high, hi)
        else:
            levels.append([target])
            low, high = lo, hi
    return levels


def assign(records: list[dict], baseline: Callable[[dict], str]) -> list[Level]:
    """Each record's level; `baseline` names a record's dense baseline (records agreeing on it share levels)."""
    flops: dict[tuple[str, str], dict[str, list[int]]] = {}
    dense: dict[tuple[str, str], int] = {}
    for r in records:
        context = (baseline(r), r["adapter"]["kind"])
        flops.setdefault(context, {}).setdefault(r["target"]["description"], []).append(r["method"]["flops"])
        dense[context] = max(dense.get(context, 0), r["dense"]["flops"])
    level_of: dict[tuple[str, str], dict[str, Level]] = {}
    for context, by_target in flops.items():
        spans = sorted((min(f), max(f), target) for target, f in by_target.items())
        for targets in _merge(spans, FLOPS_TOLERANCE * dense[context]):
            level = Level(context[1], tuple(targets))
            level_of.setdefault(context, {}).update({t: level for t in targets})
    return [level_of[(baseline(r), r["adapter"]["kind"])][r["target"]["description"]] for r in records]
