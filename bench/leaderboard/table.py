"""The cells of every table, formatted once and shared by the markdown and HTML renderers."""

from __future__ import annotations

from dataclasses import dataclass

from bench.leaderboard.findings import FAILS, HOLDS, INCONCLUSIVE, SAME, Finding
from bench.leaderboard.group import (
    BEATEN,
    BEATS,
    TIED,
    TOO_FEW,
    Entry,
    Group,
    args_text,
)
from bench.leaderboard.sensitivity import Cell as SensitivityCell
from bench.leaderboard.stats import Difference, Interval

GOOD, BAD = "good", "bad"
_TONES = {BEATS: GOOD, HOLDS: GOOD, BEATEN: BAD, FAILS: BAD}


@dataclass(frozen=True)
class Cell:
    text: str
    sort: str | None = None  # numeric sort key for the sortable tables; None sorts by text
    href: str | None = None
    note: str | None = None  # secondary line (an adapter's paper)
    tone: str | None = None  # GOOD or BAD: a verdict an interval supports


def acc(value: float) -> str:
    return f"{value:.2f}"


def delta(value: float) -> str:
    return f"{value:+.2f}"


def mean_std(mean: float, std: float | None) -> str:
    return acc(mean) if std is None else f"{acc(mean)} ± {acc(std)}"


NONE = Cell("—", sort="")  # no value: an empty sort key keeps it last in either order


def interval(ci: Interval | None, signed: bool = False) -> str:
    if ci is None:
        return "—"
    fmt = delta if signed else acc
    return f"[{fmt(ci.low)}, {fmt(ci.high)}]"


def num(value: float | int) -> str:
    return repr(value)


def source_url(e: Entry, base: str) -> str | None:
    return base + e.source_path if e.source_path else None


def record_url(e: Entry, base: str) -> str:
    """The raw record, where the repository keeps it (like adapters/, submissions/ at its root)."""
    return f"{base}submissions/{e.file}"


def verdict(text: str) -> Cell:
    return Cell(text, tone=_TONES.get(text))


def _adapter(e: Entry, base: str) -> Cell:
    return Cell(e.adapter, href=source_url(e, base), note=e.paper)


def _count(value: int, pct: float) -> Cell:
    return Cell(f"{value:,} (−{acc(pct)}%)", sort=num(value))


def ranked_columns(group: Group) -> list[str]:
    target = ["target"] if len(group.level.targets) > 1 else []
    epochs = ["epochs"] if group.flops_budget else []
    speed = ["speedup measured / FLOPs"] if group.has_speedup else []
    return ["#", "adapter", "args", *target, *epochs, "params (−%)", "FLOPs (−%)", *speed,
            "top-1 % mean ± std", "n", "95% CI", "Δ dense", "Δ random, paired [95% CI]", "verdict", "record"]


def _speedup(e: Entry) -> Cell:
    if e.speedup is None:
        return NONE
    s = e.speedup
    return Cell(f"{s['measured_speedup']:.2f}× / {s['flops_speedup']:.2f}×", sort=num(s["measured_speedup"]))


def difference_text(d: Difference) -> str:
    return delta(d.mean) if d.ci is None else f"{delta(d.mean)} {interval(d.ci, signed=True)}"


def _delta_random(e: Entry) -> Cell:
    d = e.vs_random
    if d is None:
        return NONE
    assert e.top1 is not None
    pairs = "" if d.n == e.top1.n else f" · {d.n} pair{'s' if d.n != 1 else ''}"  # a control seed diverged
    return Cell(difference_text(d) + pairs, sort=num(d.mean))


def ranked_row(group: Group, e: Entry, base: str) -> list[Cell]:
    assert e.rank is not None and e.top1 is not None and e.delta_dense is not None
    target = [Cell(e.target)] if len(group.level.targets) > 1 else []
    epochs = [Cell(str(e.epochs), sort=num(e.epochs))] if group.flops_budget else []
    speed = [_speedup(e)] if group.has_speedup else []
    s = e.top1
    return [
        Cell(str(e.rank), sort=num(e.rank)),
        _adapter(e, base),
        Cell(args_text(e.args)),
        *target,
        *epochs,
        _count(e.params, e.params_reduction_pct),
        _count(e.flops, e.flops_reduction_pct),
        *speed,
        Cell(mean_std(s.mean, s.std), sort=num(s.mean)),
        Cell(str(s.n), sort=num(s.n)),
        Cell(interval(s.ci), sort="" if s.ci is None else num(s.ci.low)),
        Cell(delta(e.delta_dense), sort=num(e.delta_dense)),
        _delta_random(e),
        verdict(e.status),
        _record(e, base),
    ]


def _record(e: Entry, base: str) -> Cell:
    """The raw record; a re-run by `bench verify` shows as ✓ and its outcome, where it ran in the note."""
    if e.verified is None:
        return Cell(e.run_id, href=record_url(e, base), note=e.file)
    status, where = e.verified
    return Cell(f"{e.run_id} ✓ {status}", href=record_url(e, base), note=f"{e.file}; verified: {status} on {where}")


DIVERGED_COLUMNS = ["adapter", "args", "target", "seeds", "record"]


def diverged_row(e: Entry, base: str) -> list[Cell]:
    return [_adapter(e, base), Cell(args_text(e.args)), Cell(e.target), Cell(str(e.seeds)),
            Cell(e.run_id, href=record_url(e, base), note=e.file)]


DENSE_COLUMNS = ["dense run", "top-1 %", "params", "FLOPs"]

GROUP_COLUMNS = ["group", "kind", "ranked", "verdicts vs random", "best top-1 %"]
_COUNTED = ((BEATS, "beat"), (TIED, "tied"), (BEATEN, "beaten"), (TOO_FEW, "n too small"))


def group_row(g: Group) -> list[Cell]:
    statuses = [e.status for e in g.ranked]
    counts = [f"{statuses.count(status)} {word}" for status, word in _COUNTED if status in statuses]
    best = max(g.ranked, key=lambda e: e.top1_mean or 0.0, default=None)
    return [
        Cell(g.title, href=f"groups/{g.slug}.html"),
        Cell(g.level.kind),
        Cell(str(len(g.ranked)), sort=num(len(g.ranked))),
        Cell(" · ".join(counts) or "—"),
        NONE if best is None or best.top1_mean is None else
        Cell(f"{acc(best.top1_mean)} ({best.adapter})", sort=num(best.top1_mean)),
    ]


FINDING_COLUMNS = ["setting", "adapter", "args", "budget (epochs)", "comparison", "Δ top-1", "95% CI", "test, n",
                   "outcome"]


def finding_row(f: Finding) -> list[Cell]:
    d = f.diff
    return [
        Cell(f.setting, href=f"groups/{f.groups[0]}.html"),
        Cell(f.adapter),
        Cell(args_text(f.args)),
        Cell(str(f.budget), sort=num(f.budget)),
        Cell(f.comparison, href=f"groups/{f.groups[1]}.html"),
        Cell(delta(d.mean), sort=num(d.mean)),
        Cell(interval(d.ci, signed=True), sort="" if d.ci is None else num(d.ci.low)),
        Cell(f"{d.test}, n={d.n}"),
        verdict(f.outcome),
    ]


def outcome_counts(rows: list[Finding]) -> str:
    outcomes = [f.outcome for f in rows]
    parts = [f"{word} in {outcomes.count(word)}" for word in (HOLDS, FAILS, INCONCLUSIVE, SAME) if word in outcomes]
    return f"Of {len(rows)} comparison{'s' if len(rows) != 1 else ''}: " + ", ".join(parts) + "."


def sensitivity_cell(c: SensitivityCell) -> Cell:
    if c.mean is None:
        return Cell("diverged" if c.diverged else "—")
    records = f" ({c.records} records)" if c.records > 1 else ""
    return Cell(acc(c.mean) + records, sort=num(c.mean))


def tau_text(tau: float | None) -> str:
    return "n/a" if tau is None else f"{tau:+.2f}"
