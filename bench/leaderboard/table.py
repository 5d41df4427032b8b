"""The cells of every table, formatted once and shared by the markdown and HTML renderers."""

from __future__ import annotations

from dataclasses import dataclass

from bench.leaderboard.entries import ALLOCATION_SAME, BEATEN, BEATS, SAME_SCHEDULE, TIED, TOO_FEW, Entry
from bench.leaderboard.findings import FAILS, HOLDS, INCONCLUSIVE, Finding
from bench.leaderboard.group import Group
from bench.leaderboard.keys import args_text
from bench.leaderboard.sensitivity import Cell as SensitivityCell
from bench.leaderboard.stats import Difference, Interval
from bench.leaderboard.verdicts import Power

GOOD, BAD = "good", "bad"
_TONES = {BEATS: GOOD, HOLDS: GOOD, BEATEN: BAD, FAILS: BAD}
AFTER_HOLM = "holds after Holm"
BEFORE_ONLY = "before correction only"


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


@dataclass(frozen=True)
class Links:
    """Where pages link to: an adapter's source (a repository URL prefix) and its raw record (the same
    repository's submissions/, or, for a local build of another folder, the record files themselves)."""

    source: str
    records: str

    @classmethod
    def repository(cls, base: str) -> "Links":
        return cls(base, f"{base}submissions/")


def source_url(e: Entry, links: Links) -> str | None:
    return links.source + e.source_path if e.source_path else None


def record_url(e: Entry, links: Links) -> str:
    return links.records + e.file


def entry_verdict(e: Entry) -> Cell:
    """The verdict against the control and whether it holds after Holm; a tone only for one that does."""
    if e.status not in (BEATS, BEATEN) or e.holm is None:
        return Cell(e.status)
    if e.survives:
        return Cell(f"{e.status}, {AFTER_HOLM}", tone=_TONES[e.status])
    return Cell(f"{e.status} {BEFORE_ONLY}; not after Holm")


def p_text(p: float | None, adjusted: float | None) -> Cell:
    """The raw p and the Holm-adjusted one."""
    if p is None:
        return NONE
    return Cell(f"{p:.2g} → {adjusted:.2g}" if adjusted is not None else f"{p:.2g}", sort=num(adjusted if adjusted is not None else p))


def collapsed_text(method: dict[int, float], control: dict[int, float]) -> str:
    """Which seeds collapsed, e.g. "control seed 4 (10.00%)"; empty when none did."""
    parts = [f"{arm}seed {seed} ({acc(top1)}%)" for arm, runs in (("", method), ("control ", control))
             for seed, top1 in sorted(runs.items())]
    return ", ".join(parts)


def _collapsed(e: Entry) -> Cell:
    text = collapsed_text(e.collapsed, e.control_collapsed)
    return Cell(f"⚠ {text}", sort=num(len(e.collapsed) + len(e.control_collapsed))) if text else Cell("none", sort="0")


def has_collapsed(g: Group) -> bool:
    return any(e.collapsed or e.control_collapsed for e in g.ranked)


def power_text(p: Power | None) -> str:
    """What a table's seeds can detect, and whether it is saturated."""
    if p is None or p.detectable is None:
        return "No paired test against a random control here: no detectable difference to state."
    text = (f"Detectable difference: {p.detectable:.2f} points (80% power, α = 0.05, two-sided paired t, n = {p.n} "
            f"seeds, observed paired spread {p.spread:.2f}).")
    if p.saturated:
        text += (" Saturated: every method here lies within that of its random control, so these seeds cannot tell "
                 "the methods from random pruning at this level, and their order says little.")
    return text


def _adapter(e: Entry, base: Links) -> Cell:
    return Cell(e.adapter, href=source_url(e, base), note=e.paper)


def _count(value: int, pct: float) -> Cell:
    return Cell(f"{value:,} ({acc(100 - pct)}% kept)", sort=num(value))


def has_allocation(group: Group) -> bool:
    return any(e.allocation is not None for e in group.ranked)


def _vs_allocation(e: Entry) -> Cell:
    if e.allocation is None:
        return NONE
    if e.allocation == ALLOCATION_SAME:
        return Cell("= its random control", note="one rate per layer at its FLOPs gives its own widths")
    d = e.vs_allocation
    return NONE if d is None else Cell(difference_text(d), sort=num(d.mean))


def ranked_columns(group: Group) -> list[str]:
    target = ["target"] if len(group.level.targets) > 1 else []
    epochs = ["epochs"] if group.flops_budget else []
    speed = ["speedup measured / FLOPs"] if group.has_speedup else []
    health = ["collapsed runs"] if has_collapsed(group) else []
    allocation = ["Δ allocation control, paired [95% CI]"] if has_allocation(group) else []
    return ["#", "adapter", "args", *target, *epochs, "params (kept)", "FLOPs (kept)", "FLOPs speed-up", *speed,
            "top-1 % mean ± std", "n", "95% CI", *health, "Δ dense", "Δ random, paired [95% CI]", "p (raw → Holm)",
            "verdict", *allocation, "record"]


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


def ranked_row(group: Group, e: Entry, base: Links) -> list[Cell]:
    assert e.rank is not None and e.top1 is not None and e.delta_dense is not None
    target = [Cell(e.target)] if len(group.level.targets) > 1 else []
    epochs = [Cell(str(e.epochs), sort=num(e.epochs))] if group.flops_budget else []
    speed = [_speedup(e)] if group.has_speedup else []
    health = [_collapsed(e)] if has_collapsed(group) else []
    allocation = [_vs_allocation(e)] if has_allocation(group) else []
    s = e.top1
    d = e.vs_random
    return [
        Cell(str(e.rank), sort=num(e.rank)),
        _adapter(e, base),
        Cell(args_text(e.args)),
        *target,
        *epochs,
        _count(e.params, e.params_reduction_pct),
        _count(e.flops, e.flops_reduction_pct),
        Cell(f"{e.flops_speedup:.2f}×", sort=num(e.flops_speedup)),
        *speed,
        Cell(mean_std(s.mean, s.std), sort=num(s.mean)),
        Cell(str(s.n), sort=num(s.n)),
        Cell(interval(s.ci), sort="" if s.ci is None else num(s.ci.low)),
        *health,
        Cell(delta(e.delta_dense), sort=num(e.delta_dense)),
        _delta_random(e),
        p_text(None if d is None or e.status == SAME_SCHEDULE else d.p, e.holm),
        entry_verdict(e),
        *allocation,
        _record(e, base),
    ]


def _record(e: Entry, base: Links) -> Cell:
    """The raw record; a re-run by `bench verify` shows as ✓ and its outcome, where it ran in the note."""
    if e.verified is None:
        return Cell(e.run_id, href=record_url(e, base), note=e.file)
    status, how = e.verified
    return Cell(f"{e.run_id} ✓ {status}", href=record_url(e, base), note=f"{e.file}; verified: {status} ({how})")


DIVERGED_COLUMNS = ["adapter", "args", "target", "seeds", "record"]


def diverged_row(e: Entry, base: Links) -> list[Cell]:
    return [_adapter(e, base), Cell(args_text(e.args)), Cell(e.target), Cell(str(e.seeds)),
            Cell(e.run_id, href=record_url(e, base), note=e.file)]


DENSE_COLUMNS = ["dense run", "top-1 %", "params", "FLOPs"]

GROUP_COLUMNS = ["group", "kind", "ranked", "verdicts vs random", "detectable Δ", "collapsed runs",
                 "best top-1 %"]
_COUNTED = ((BEATS, "beat"), (TIED, "tied"), (BEATEN, "beaten"), (TOO_FEW, "n too small"))


def _counts(g: Group, same_as: Group | None) -> str:
    if same_as is not None:
        return f"same schedule as {same_as.protocol['name']}: tested there"
    statuses = [e.status for e in g.ranked]
    held = {s: sum(e.survives for e in g.ranked if e.status == s) for s in (BEATS, BEATEN)}
    counts = [f"{statuses.count(status)} {word}" + (f" ({held[status]} after Holm)" if status in held else "")
              for status, word in _COUNTED if status in statuses]
    return " · ".join(counts) or "—"


def group_row(g: Group, power: Power | None = None, same_as: Group | None = None) -> list[Cell]:
    best = max(g.ranked, key=lambda e: e.top1_mean or 0.0, default=None)
    runs = sum(len(e.collapsed) + len(e.control_collapsed) for e in g.ranked)
    shown = None if power is None or power.detectable is None else power.detectable
    return [
        Cell(g.title, href=f"groups/{g.slug}.html"),
        Cell(g.level.kind),
        Cell(str(len(g.ranked)), sort=num(len(g.ranked))),
        Cell(_counts(g, same_as)),
        NONE if shown is None else Cell(f"{shown:.2f}" + (" · saturated" if power.saturated else ""), sort=num(shown)),
        Cell(f"⚠ {runs}" if runs else "0", sort=num(runs)),
        NONE if best is None or best.top1_mean is None else
        Cell(f"{acc(best.top1_mean)} ({best.adapter})", sort=num(best.top1_mean)),
    ]


FINDING_COLUMNS = ["setting", "adapter", "args", "budget (epochs)", "comparison", "Δ top-1", "95% CI", "test, n",
                   "p (raw → Holm)", "collapsed runs", "outcome"]


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
        p_text(d.p, f.holm),
        Cell(f"⚠ {f.collapsed}" if f.collapsed else "0", sort=num(f.collapsed)),
        Cell(f.verdict, tone=_TONES.get(f.outcome) if f.survives else None),
    ]


def outcome_counts(rows: list[Finding]) -> str:
    parts = []
    for word in (HOLDS, FAILS, INCONCLUSIVE):
        found = [f for f in rows if f.outcome == word]
        if found:
            held = f" ({sum(f.survives for f in found)} after Holm)" if word != INCONCLUSIVE else ""
            parts.append(f"{word} in {len(found)}{held}")
    collapsed = sum(f.collapsed > 0 for f in rows)
    rest = f" {collapsed} rest on a collapsed run." if collapsed else ""
    return f"Of {len(rows)} test{'s' if len(rows) != 1 else ''}: " + ", ".join(parts) + "." + rest


def sensitivity_cell(c: SensitivityCell) -> Cell:
    if c.mean is None:
        return Cell("diverged" if c.diverged else "—")
    records = f" ({c.records} records)" if c.records > 1 else ""
    return Cell(acc(c.mean) + records, sort=num(c.mean))


def tau_text(tau: float | None) -> str:
    return "n/a" if tau is None else f"{tau:+.2f}"
