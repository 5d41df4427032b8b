"""Fair groups: entries are ranked only against entries with the same dataset, model, dense recipe
and weights, retraining protocol and cost level (bench.leaderboard.levels). One entry is one
record's method arm (bench.leaderboard.entries); the keys that decide "the same" are
bench.leaderboard.keys. A family is one protocol's groups at every level: they meet only on its
accuracy-vs-FLOPs plot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.core.config import canonical_json
from bench.leaderboard import levels
from bench.leaderboard.entries import WIDTH_SCALED, Entry, entry, rank
from bench.leaderboard.keys import baseline_key, family_key, family_name, slug
from bench.leaderboard.levels import Level
from bench.leaderboard.load import Submission


@dataclass(frozen=True)
class Dense:
    run_id: str
    top1: float
    params: int
    flops: int


@dataclass(frozen=True)
class Group:
    key: dict[str, Any]  # family_key + level
    slug: str
    level: Level
    family: str  # the family's slug: its accuracy-vs-FLOPs plot
    ranked: list[Entry]
    diverged: list[Entry]
    dense: list[Dense] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return self.key["dataset"]["name"]

    @property
    def model(self) -> str:
        return self.key["model"]

    @property
    def protocol(self) -> dict[str, Any]:
        return self.key["protocol"]

    @property
    def baseline(self) -> dict[str, Any]:
        return {k: v for k, v in self.key.items() if k not in ("protocol", "level")}

    @property
    def flops_budget(self) -> bool:
        return self.protocol["epochs"] == "flops budget"

    @property
    def has_speedup(self) -> bool:
        return any(e.speedup is not None for e in self.ranked)

    @property
    def protocol_text(self) -> str:
        rounds = f" × {self.protocol['iterations']} iterations" if "iterations" in self.protocol else ""
        return f"{self.protocol['name']}{rounds} (v{self.protocol['version']})"

    @property
    def family_title(self) -> str:
        return f"{self.dataset} · {self.model} · {self.protocol_text}"

    @property
    def title(self) -> str:
        return f"{self.family_title} · {self.level.text}"

    @property
    def entries(self) -> list[Entry]:
        return self.ranked + self.diverged

    @property
    def filters(self) -> dict[str, str]:
        """What the index page filters on (data attributes of the group's row)."""
        return {"dataset": self.dataset, "model": self.model, "protocol": self.protocol_text,
                "level": self.level.label, "kind": self.level.kind}


@dataclass(frozen=True)
class Family:
    slug: str
    title: str
    groups: list[Group]  # one per level, in level order
    # The width-scaled dense model from scratch with the same dense baseline, under any scratch
    # protocol: (protocol text, entry), drawn as a reference series on the family's plot.
    width_scaled: tuple[tuple[str, Entry], ...] = ()

    @property
    def entries(self) -> list[Entry]:
        return [e for g in self.groups for e in g.entries]

    @property
    def methods(self) -> list[Entry]:
        """The family's pruned entries with a result (the width-scaled reference is drawn apart)."""
        return [e for e in self.entries if e.top1 is not None and e.adapter != WIDTH_SCALED]

    @property
    def dense(self) -> list[Dense]:
        return sorted({d for g in self.groups for d in g.dense}, key=lambda d: (d.run_id, d.top1))


def build_groups(submissions: list[Submission]) -> list[Group]:
    records = [sub.record for sub in submissions]
    level_of = levels.assign(records, lambda r: canonical_json(baseline_key(r)))
    by_key: dict[str, tuple[dict, Level, list[Entry]]] = {}
    for sub, level in zip(submissions, level_of):
        key = {**family_key(sub.record), "level": level.key}
        by_key.setdefault(canonical_json(key), (key, level, []))[2].append(entry(sub))
    groups = []
    for key, level, entries in by_key.values():
        ranked, diverged = rank(entries)
        dense = sorted({Dense(e.dense_run_id, e.dense_top1, e.dense_params, e.dense_flops) for e in entries},
                       key=lambda d: (d.run_id, d.top1))
        family = {k: v for k, v in key.items() if k != "level"}
        groups.append(Group(key, slug(key, f"{family_name(key)}-{level.text}"), level,
                            slug(family, f"pareto-{family_name(key)}"), ranked, diverged, dense))
    return sorted(groups, key=_group_order)


def families(groups: list[Group]) -> list[Family]:
    by_slug: dict[str, list[Group]] = {}
    for g in groups:
        by_slug.setdefault(g.family, []).append(g)
    scaled: dict[str, list[tuple[str, Entry]]] = {}  # baseline → the width-scaled series
    for g in groups:
        if g.protocol["schedule"] == "scratch":
            scaled.setdefault(canonical_json(g.baseline), []).extend(
                (g.protocol_text, e) for e in g.entries if e.adapter == WIDTH_SCALED and e.top1 is not None
            )
    titles = [members[0].family_title for members in by_slug.values()]
    out = []
    for name, members in by_slug.items():
        series = sorted(scaled.get(canonical_json(members[0].baseline), []), key=lambda p: (p[0], p[1].flops, p[1].run_id))
        title = members[0].family_title
        if titles.count(title) > 1:  # same protocol from other dense weights (e.g. slimming's penalized model)
            title += " · dense " + ", ".join(sorted({d.run_id for g in members for d in g.dense}))
        out.append(Family(name, title, members, tuple(series)))
    return out


def _group_order(g: Group) -> tuple:
    p = g.protocol
    return (g.dataset, g.key["dataset"]["split_seed"], g.model, p["name"], p["version"], g.family,
            -max(e.flops for e in g.entries), g.level.kind, g.slug)  # least pruned level first
