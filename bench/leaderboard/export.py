"""leaderboard/leaderboard.json: everything the pages show, for machines."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from bench.leaderboard.group import Entry, Group
from bench.leaderboard.load import Rejection
from bench.leaderboard.sensitivity import Table

FORMAT = "prunebench-leaderboard/1"


def _entry(e: Entry, source_url: str) -> dict[str, Any]:
    out = dataclasses.asdict(e)
    out.update(delta_dense=e.delta_dense, delta_random=e.delta_random, source_path=e.source_path,
               source_url=source_url + e.source_path if e.source_path else None)
    return out


def _group(g: Group, source_url: str) -> dict[str, Any]:
    return {
        "slug": g.slug, "title": g.title, "key": g.key, "page": f"groups/{g.slug}.html", "plot": f"groups/{g.slug}.svg",
        "dense": [dataclasses.asdict(d) for d in g.dense],
        "ranked": [_entry(e, source_url) for e in g.ranked],
        "diverged": [_entry(e, source_url) for e in g.diverged],
    }


def _table(t: Table) -> dict[str, Any]:
    return {
        "slug": t.slug, "title": t.title, "key": t.key, "protocols": t.protocols, "groups": t.group_slugs,
        "adapters": [
            {"adapter": a, "top1_mean": {p: dataclasses.asdict(c) for p, c in zip(t.protocols, cells)}}
            for a, cells in zip(t.adapters, t.cells)
        ],
        "kendall_tau": [dataclasses.asdict(k) for k in t.taus],
    }


def render(groups: list[Group], tables: list[Table], rejected: list[Rejection], source_url: str) -> str:
    doc = {
        "format": FORMAT,
        "source_url": source_url,
        "groups": [_group(g, source_url) for g in groups],
        "sensitivity": [_table(t) for t in tables],
        "rejected": [{"file": r.file, "reasons": list(r.reasons)} for r in rejected],
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
