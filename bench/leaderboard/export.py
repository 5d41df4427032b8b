"""leaderboard/leaderboard.json: everything the pages show, for machines."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from bench.leaderboard import headline, levels, stats
from bench.leaderboard.board import Board
from bench.leaderboard.entries import Entry
from bench.leaderboard.findings import Finding
from bench.leaderboard.group import Group
from bench.leaderboard.sensitivity import Table
from bench.leaderboard.table import Links, record_url, source_url

FORMAT = "prunebench-leaderboard/3"


def _entry(e: Entry, links: Links) -> dict[str, Any]:
    out = dataclasses.asdict(e)
    out.update(delta_dense=e.delta_dense, delta_random=e.delta_random, holds_after_holm=e.survives, flops_speedup=e.flops_speedup,
               source_path=e.source_path,
               source_url=source_url(e, links), record_url=record_url(e, links))
    return out


def _group(b: Board, g: Group, links: Links) -> dict[str, Any]:
    power = b.power.get(g.slug)
    return {
        "slug": g.slug, "title": g.title, "key": g.key, "level": g.level.label, "kind": g.level.kind,
        "same_schedule_as": b.same.get(g.slug), "power": None if power is None else dataclasses.asdict(power),
        "page": f"groups/{g.slug}.html", "pareto_plot": f"groups/{g.family}.svg",
        "dense": [dataclasses.asdict(d) for d in g.dense],
        "ranked": [_entry(e, links) for e in g.ranked],
        "diverged": [_entry(e, links) for e in g.diverged],
    }


def _finding(f: Finding) -> dict[str, Any]:
    return {**dataclasses.asdict(f), "outcome": f.outcome, "holds_after_holm": f.survives, "verdict": f.verdict}


def _table(t: Table) -> dict[str, Any]:
    return {
        "slug": t.slug, "title": t.title, "key": t.key, "protocols": t.protocols, "groups": t.group_slugs,
        "adapters": [
            {"adapter": a, "top1_mean": {p: dataclasses.asdict(c) for p, c in zip(t.protocols, cells)}}
            for a, cells in zip(t.adapters, t.cells)
        ],
        "kendall_tau": [dataclasses.asdict(k) for k in t.taus],
    }


def render(b: Board, links: Links) -> str:
    doc = {
        "format": FORMAT,
        "source_url": links.source,
        "records_url": links.records,
        "summary": b.summary,
        "method": {"confidence": stats.CONFIDENCE, "statement": stats.METHOD, "level_rule": levels.RULE,
                   "flops_tolerance": levels.TOLERANCE, "multiple_comparisons": stats.HOLM,
                   "detectable_difference": stats.DETECTABLE, "run_health": headline.HEALTH},
        "corrections": [dataclasses.asdict(c) for c in b.corrections],
        "collapsed_runs": [dataclasses.asdict(c) for c in headline.collapsed_runs(b.groups)],
        "groups": [_group(b, g, links) for g in b.groups],
        "budget_plots": [{"title": v.title, "plot": f"groups/{v.slug}.svg", "groups": sorted(v.groups)}
                         for v in b.budgets],
        "findings": {"claim1": [_finding(f) for f in b.findings.claim1],
                     "claim2": [_finding(f) for f in b.findings.claim2],
                     "same_schedule": [{**dataclasses.asdict(s), "text": s.text} for s in b.findings.same]},
        "sensitivity": [_table(t) for t in b.sensitivity],
        "rejected": [{"file": r.file, "reasons": list(r.reasons)} for r in b.rejected],
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
