"""index.html and one page per group, rendered by jinja2 with autoescaping on every template."""

from __future__ import annotations

from functools import lru_cache

from bench.core import verification
from bench.leaderboard import findings, headline, levels, stats
from bench.leaderboard.board import Board
from bench.leaderboard.group import Group
from bench.leaderboard.sensitivity import Table
from bench.leaderboard.table import (
    Links,
    DENSE_COLUMNS,
    DIVERGED_COLUMNS,
    FINDING_COLUMNS,
    GROUP_COLUMNS,
    Cell,
    acc,
    diverged_row,
    finding_row,
    group_row,
    outcome_counts,
    power_text,
    ranked_columns,
    ranked_row,
    sensitivity_cell,
    tau_text,
)

FILTERS = ("dataset", "model", "protocol", "level", "kind")


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("bench.leaderboard", "templates"),
        autoescape=True,  # every template, whatever its extension: record text is untrusted
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["value"] = _value
    return env


def _value(v: object) -> object:
    """Floats to 6 significant digits: 0.1 * 0.1 * 0.1 reads 0.001, not 0.0010000000000000002."""
    return f"{v:.6g}" if isinstance(v, float) else v


def _dense_rows(g: Group) -> list[list[Cell]]:
    return [[Cell(d.run_id), Cell(acc(d.top1), sort=repr(d.top1)), Cell(f"{d.params:,}", sort=repr(d.params)),
             Cell(f"{d.flops:,}", sort=repr(d.flops))] for d in g.dense]


def _sensitivity(t: Table) -> dict:
    return {
        "table": t,
        "rows": [[Cell(a), *map(sensitivity_cell, cells)] for a, cells in zip(t.adapters, t.cells)],
        "taus": [[Cell(k.first), Cell(k.second), Cell(tau_text(k.tau), sort=None if k.tau is None else repr(k.tau)),
                  Cell(str(k.common), sort=str(k.common))] for k in t.taus],
    }


def _claim(rows: list[findings.Finding], claim: tuple[str, str], missing: str, same: list[findings.Same] = ()) -> dict:
    return {"title": claim[0], "statement": claim[1], "missing": missing, "same": [s.text for s in same],
            "summary": outcome_counts(rows) if rows else "",
            "rows": [finding_row(f) for f in rows], "filters": [f.filters for f in rows]}


def _choices(b: Board) -> list[tuple[str, list[str]]]:
    return [(name, sorted({g.filters[name] for g in b.groups})) for name in FILTERS]


def index_page(b: Board) -> str:
    return _env().get_template("index.html.j2").render(
        groups=b.groups, group_columns=GROUP_COLUMNS,
        group_rows=[group_row(g, b.power.get(g.slug), b.same_as(g)) for g in b.groups],
        filters=_choices(b), summary=b.summary,
        claims=[_claim(b.findings.claim1, findings.CLAIM_1, findings.MISSING_1, b.findings.same),
                _claim(b.findings.claim2, findings.CLAIM_2, findings.MISSING_2)],
        finding_columns=FINDING_COLUMNS, pairing=findings.PAIRING,
        sensitivity=[_sensitivity(t) for t in b.sensitivity], rejected=b.rejected,
        level_rule=levels.RULE, method=stats.METHOD, holm=stats.HOLM, corrections=[c.text for c in b.corrections],
        detectable=stats.DETECTABLE, verified=verification.MEANING, health=headline.HEALTH, collapsed=headline.collapsed_runs(b.groups),
        root="",
    )


def group_page(b: Board, g: Group, links: Links) -> str:
    return _env().get_template("group.html.j2").render(
        group=g,
        budgets=b.budgets_of(g),
        columns=ranked_columns(g),
        rows=[ranked_row(g, e, links) for e in g.ranked],
        diverged_columns=DIVERGED_COLUMNS,
        diverged=[diverged_row(e, links) for e in g.diverged],
        dense_columns=DENSE_COLUMNS,
        dense=_dense_rows(g),
        same_as=b.same_as(g), power=power_text(b.power.get(g.slug)),
        level_rule=levels.RULE, method=stats.METHOD, holm=stats.HOLM, health=headline.HEALTH,
        root="../",
    )
