"""Protocol sensitivity: the same adapters under several retraining protocols, side by side, with
Kendall's tau-b (scipy.stats.kendalltau) between the rankings each pair of protocols produces (the
paper's central point) and the number of adapters each tau rests on. One table per dense baseline and
cost level: only like-with-like entries are compared.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from bench.core.config import canonical_json
from bench.leaderboard.entries import Entry
from bench.leaderboard.group import Group
from bench.leaderboard.keys import args_text, key_hash

DIVERGED = "diverged"


@dataclass(frozen=True)
class Cell:
    mean: float | None  # mean over records of their top-1 means; None when absent or diverged
    records: int  # records behind the value (0: adapter not run under this protocol)
    diverged: bool


@dataclass(frozen=True)
class Tau:
    first: str
    second: str
    tau: float | None  # None: fewer than 2 adapters in common (or no variation)
    common: int


@dataclass(frozen=True)
class Table:
    key: dict[str, Any]
    slug: str
    title: str
    protocols: list[str]
    group_slugs: list[str]
    adapters: list[str]
    cells: list[list[Cell]]  # [adapter][protocol]
    taus: list[Tau]
    filters: dict[str, str]  # what the index page filters on


def kendall(x: list[float], y: list[float]) -> float | None:
    """Kendall's tau-b between two score lists; None when it is undefined."""
    if len(x) < 2:
        return None
    from scipy.stats import kendalltau  # scipy is slow to import; only needed here

    value = float(kendalltau(x, y).statistic)
    return None if math.isnan(value) else value


def _labels(ids: list[tuple[str, str]], args: dict[tuple[str, str], dict]) -> dict[tuple[str, str], str]:
    """An adapter's name, plus its arguments when the same name was run with different ones."""
    names = [name for name, _ in ids]
    return {i: i[0] if names.count(i[0]) == 1 else f"{i[0]} ({args_text(args[i])})" for i in ids}


def _protocol_labels(groups: list[Group]) -> list[str]:
    names = [g.protocol["name"] for g in groups]
    labels = [n if names.count(n) == 1 else f"{n} v{g.protocol['version']}" for n, g in zip(names, groups)]
    return [lab if labels.count(lab) == 1 else f"{lab} {g.slug[-10:]}" for lab, g in zip(labels, groups)]


def _cell(entries: list[Entry]) -> Cell:
    means = [e.top1_mean for e in entries if e.top1_mean is not None]
    if not means:
        return Cell(None, len(entries), bool(entries))
    return Cell(statistics.fmean(means), len(means), False)


def _table(context: dict[str, Any], groups: list[Group]) -> Table | None:
    per_group = [g.entries for g in groups]
    args: dict[tuple[str, str], dict] = {}
    for entries in per_group:
        for e in entries:
            args[e.method_id] = e.args
    ids = sorted(args)
    cells = [[_cell([e for e in entries if e.method_id == i]) for entries in per_group] for i in ids]
    # Only worth a table when some adapter has a result under at least two protocols.
    if not any(sum(c.mean is not None for c in row) >= 2 for row in cells):
        return None
    protocols = _protocol_labels(groups)
    taus = []
    for a, b in combinations(range(len(groups)), 2):
        both = [(row[a].mean, row[b].mean) for row in cells if row[a].mean is not None and row[b].mean is not None]
        taus.append(Tau(protocols[a], protocols[b], kendall([p for p, _ in both], [q for _, q in both]), len(both)))
    labels = _labels(ids, args)
    g0 = groups[0]
    title = f"{g0.dataset} · {g0.model} · {g0.level.text}"
    filters = {k: v for k, v in g0.filters.items() if k != "protocol"}
    return Table(context, f"sensitivity-{key_hash(context)}", title, protocols, [g.slug for g in groups],
                 [labels[i] for i in ids], cells, taus, filters)


def sensitivity(groups: list[Group]) -> list[Table]:
    """One table per (dense baseline, level) that was run under several protocols."""
    contexts: dict[str, tuple[dict, list[Group]]] = {}
    for g in groups:
        context = {**g.baseline, "level": g.key["level"]}
        contexts.setdefault(canonical_json(context), (context, []))[1].append(g)
    tables = []
    for context, members in contexts.values():
        if len(members) < 2:
            continue
        members = sorted(members, key=lambda g: (g.protocol["name"], g.protocol["version"], g.slug))
        table = _table(context, members)
        if table is not None:
            tables.append(table)
    return sorted(tables, key=lambda t: (t.title, t.slug))
