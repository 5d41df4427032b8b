"""The cells of every table, formatted once and shared by the markdown and HTML renderers."""

from __future__ import annotations

from dataclasses import dataclass

from bench.leaderboard.group import BEATEN, Entry, Group, args_text
from bench.leaderboard.sensitivity import Cell as SensitivityCell


@dataclass(frozen=True)
class Cell:
    text: str
    sort: str | None = None  # numeric sort key for the sortable tables; None sorts by text
    href: str | None = None
    note: str | None = None  # secondary line (an adapter's paper)
    flag: bool = False  # draw attention (beaten by random)


def acc(value: float) -> str:
    return f"{value:.2f}"


def delta(value: float) -> str:
    return f"{value:+.2f}"


def mean_std(mean: float, std: float | None) -> str:
    return acc(mean) if std is None else f"{acc(mean)} ± {acc(std)}"


def num(value: float | int) -> str:
    return repr(value)


def source_url(e: Entry, base: str) -> str | None:
    return base + e.source_path if e.source_path else None


def _adapter(e: Entry, base: str) -> Cell:
    return Cell(e.adapter, href=source_url(e, base), note=e.paper)


def ranked_columns(group: Group) -> list[str]:
    epochs = ["epochs"] if group.flops_budget else []
    speed = ["speedup measured / FLOPs"] if group.has_speedup else []
    return ["#", "adapter", "args", "target", *epochs, "params", "params -%", "FLOPs", "FLOPs -%", *speed,
            "top-1 % (mean ± std)", "seeds", "Δ dense", "Δ random", "run"]


def _speedup(e: Entry) -> Cell:
    if e.speedup is None:
        return Cell("—")
    s = e.speedup
    return Cell(f"{s['measured_speedup']:.2f}× / {s['flops_speedup']:.2f}×", sort=num(s["measured_speedup"]))


def _delta_random(e: Entry) -> Cell:
    d = e.delta_random
    if d is None:
        return Cell(e.status)
    if e.status == BEATEN:
        return Cell(f"{delta(d)} ({BEATEN})", sort=num(d), flag=True)
    return Cell(delta(d), sort=num(d))


def ranked_row(group: Group, e: Entry, base: str) -> list[Cell]:
    assert e.rank is not None and e.top1_mean is not None and e.delta_dense is not None
    epochs = [Cell(str(e.epochs), sort=num(e.epochs))] if group.flops_budget else []
    speed = [_speedup(e)] if group.has_speedup else []
    return [
        Cell(str(e.rank), sort=num(e.rank)),
        _adapter(e, base),
        Cell(args_text(e.args)),
        Cell(e.target),
        *epochs,
        Cell(f"{e.params:,}", sort=num(e.params)),
        Cell(acc(e.params_reduction_pct), sort=num(e.params_reduction_pct)),
        Cell(f"{e.flops:,}", sort=num(e.flops)),
        Cell(acc(e.flops_reduction_pct), sort=num(e.flops_reduction_pct)),
        *speed,
        Cell(mean_std(e.top1_mean, e.top1_std), sort=num(e.top1_mean)),
        Cell(str(e.seeds), sort=num(e.seeds)),
        Cell(delta(e.delta_dense), sort=num(e.delta_dense)),
        _delta_random(e),
        Cell(e.run_id, note=e.file),
    ]


DIVERGED_COLUMNS = ["adapter", "args", "target", "seeds", "run"]


def diverged_row(e: Entry, base: str) -> list[Cell]:
    return [_adapter(e, base), Cell(args_text(e.args)), Cell(e.target), Cell(str(e.seeds)), Cell(e.run_id, note=e.file)]


DENSE_COLUMNS = ["dense run", "top-1 %", "params", "FLOPs"]


def sensitivity_cell(c: SensitivityCell) -> Cell:
    if c.mean is None:
        return Cell("diverged" if c.diverged else "—")
    records = f" ({c.records} records)" if c.records > 1 else ""
    return Cell(acc(c.mean) + records, sort=num(c.mean))


def tau_text(tau: float | None) -> str:
    return "n/a" if tau is None else f"{tau:+.2f}"
