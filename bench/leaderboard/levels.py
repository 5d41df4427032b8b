"""Cost levels: which entries cost the same and may be ranked together.

A nominal ratio does not fix the cost: each method's layout turns one ratio into networks 2-3× apart
in FLOPs, and inside such a table accuracy mostly follows size. So a level is a cost, not a target:
within one dense baseline (dataset, model, dense recipe and weights) and one kind of pruning,
structured entries share a level when their FLOPs lie within `TOLERANCE` of the dense model's FLOPs
of each other, unstructured entries when their parameters do (a 50% sparse network is not a network
with half its channels, and its FLOPs saving is only nominal). Entries are taken in order of cost and
a level closes when the next would widen it past the tolerance. Levels are titled by their cost
("3.0× FLOPs"): the speed-up every entry asked for (`--speedup`) where they agree, else the measured
one. Protocols play no part, so one level means the same networks under every protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

TOLERANCE = 0.01  # of the dense model's FLOPs (structured) or parameters (unstructured)

RULE = (
    "A ranked table holds one cost: the same dense baseline, the same kind of pruning (structured or "
    f"unstructured), and FLOPs (structured) or parameters (unstructured) within {TOLERANCE:.0%} of the dense "
    "model's of each other, whatever ratio or target produced them. Entries of different cost meet only on "
    "the accuracy-vs-FLOPs plot."
)


@dataclass(frozen=True)
class Level:
    kind: str
    label: str  # the cost, e.g. "3.0× FLOPs" or "10.0× params"
    targets: tuple[str, ...]  # the target descriptions of its entries
    low: int  # the cheapest and dearest entry, in FLOPs (structured) or params (unstructured)
    high: int

    @property
    def text(self) -> str:
        return f"{self.label} ({self.kind})"

    @property
    def key(self) -> dict[str, Any]:
        return {"kind": self.kind, "cost": self.label, "span": [self.low, self.high]}


def cost(record: dict) -> int:
    """What a level matches on: FLOPs for structured pruning, parameters for unstructured."""
    return record["method"]["flops" if record["adapter"]["kind"] == "structured" else "params"]


def dense_cost(record: dict) -> int:
    return record["dense"]["flops" if record["adapter"]["kind"] == "structured" else "params"]


def _label(kind: str, members: list[dict]) -> str:
    dense = max(dense_cost(r) for r in members)
    mean = sum(cost(r) for r in members) / len(members)
    if kind != "structured":
        return f"{dense / mean:.1f}× params"
    asked = {r["target"].get("speedup") for r in members}
    if len(asked) == 1 and None not in asked:
        return f"{asked.pop():g}× FLOPs"
    return f"{dense / mean:.1f}× FLOPs"


def assign(records: list[dict], baseline: Callable[[dict], str]) -> list[Level]:
    """Each record's level; `baseline` names a record's dense baseline (records agreeing on it share levels)."""
    contexts: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(records):
        contexts.setdefault((baseline(r), r["adapter"]["kind"]), []).append(i)
    level_of: dict[int, Level] = {}
    for (_, kind), members in contexts.items():
        width = TOLERANCE * max(dense_cost(records[i]) for i in members)
        clusters: list[list[int]] = []
        for i in sorted(members, key=lambda i: (cost(records[i]), i)):
            if clusters and cost(records[i]) - cost(records[clusters[-1][0]]) <= width:
                clusters[-1].append(i)
            else:
                clusters.append([i])
        for cluster in clusters:
            rs = [records[i] for i in cluster]
            targets = tuple(sorted({r["target"]["description"] for r in rs}))
            level = Level(kind, _label(kind, rs), targets, cost(rs[0]), cost(rs[-1]))
            level_of.update({i: level for i in cluster})
    return [level_of[i] for i in range(len(records))]
