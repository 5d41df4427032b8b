"""Accuracy against retraining budget (the paper's Figure 2): one view per dense baseline, level and
method retrained at two or more budgets (epochs), with a series per schedule for the method and one
for its random controls. Only the schedules that retrain the pruned weights (FT, LRW, SLR, CLR) have
a budget in epochs; protocols must agree on everything but schedule and epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.config import canonical_json
from bench.leaderboard.entries import Entry
from bench.leaderboard.group import Group
from bench.leaderboard.keys import RETRAINING, retraining_key, slug


@dataclass(frozen=True)
class Point:
    schedule: str
    epochs: int
    entry: Entry
    group: str  # slug of the entry's group


@dataclass(frozen=True)
class BudgetView:
    slug: str
    title: str
    adapter: str
    dense_top1: float
    points: list[Point]  # in schedule order, then by epochs

    @property
    def groups(self) -> set[str]:
        return {p.group for p in self.points}


def budget_views(groups: list[Group]) -> list[BudgetView]:
    members: dict[str, tuple[dict, list[tuple[Group, Entry]]]] = {}
    for g in groups:
        if g.protocol["schedule"] not in RETRAINING:
            continue
        for e in g.ranked:
            key = {**g.baseline, "level": g.key["level"], "retraining": retraining_key(g.protocol, budget=False),
                   "method": e.method_id}
            members.setdefault(canonical_json(key), (key, []))[1].append((g, e))
    views = []
    for key, found in members.values():
        if len({g.protocol["epochs"] for g, _ in found}) < 2:
            continue
        points = sorted((Point(g.protocol["schedule"], g.protocol["epochs"], e, g.slug) for g, e in found),
                        key=lambda p: (RETRAINING.index(p.schedule), p.epochs, p.entry.run_id))
        g, e = found[0]
        title = f"{e.adapter} · {g.dataset} · {g.model} · {g.level.text}"
        name = f"budget-{g.dataset}-{g.model}-{e.adapter}-{g.level.label}"
        views.append(BudgetView(slug(key, name), title, e.adapter, e.dense_top1, points))
    return sorted(views, key=lambda v: (v.title, v.slug))
