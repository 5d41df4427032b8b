"""The plots as deterministic SVG strings: accuracy vs FLOPs of one protocol family (every level, its
Pareto front, the random controls' front, the dense model and the width-scaled dense model trained
from scratch) and accuracy vs retraining budget of one method (bench.leaderboard.budget). Means are drawn large, each seed's result small beside them.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from bench.leaderboard.budget import BudgetView
from bench.leaderboard.group import Family
from bench.leaderboard.keys import RETRAINING

_SALT = "prunebench-leaderboard"  # fixed ids in the SVG: same input, same bytes
_SEED = {"s": 10, "alpha": 0.5, "zorder": 2}  # a per-seed point
_ACCURACY = "test top-1 (%)"


def _svg(size: tuple[float, float], draw: Callable) -> str:
    """`draw(ax, colors)` on a fresh figure, with the shared grid and legend, as SVG text."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.hashsalt": _SALT, "svg.fonttype": "path", "font.size": 9}):
        fig = Figure(figsize=size)
        FigureCanvasSVG(fig)  # the object API: never touches pyplot's global state or backend
        ax = fig.add_subplot()
        draw(ax, matplotlib.colormaps["tab10"])
        ax.set_ylabel(_ACCURACY)
        ax.grid(True, linewidth=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The Pareto front: the points no other point beats with fewer or equal FLOPs."""
    out: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not out or y > out[-1][1]:
            out.append((x, y))
    return out


def _seeds(ax, x: float, runs: dict[int, float], color, control: bool = False) -> None:
    style = {"marker": "x", "linewidths": 0.8} if control else {"marker": "o", "linewidths": 0}
    ax.scatter([x] * len(runs), list(runs.values()), color=color, **_SEED, **style)


def pareto_svg(family: Family) -> str:
    def draw(ax, color) -> None:
        methods = family.methods
        for i, adapter in enumerate(sorted({e.adapter for e in methods})):
            mine = [e for e in methods if e.adapter == adapter]
            for j, e in enumerate(mine):  # one artist per entry: its SVG id names the record
                _seeds(ax, e.flops / 1e6, e.runs, color=color(i % 10))
                ax.scatter([e.flops / 1e6], [e.top1.mean], s=36, marker="o", color=color(i % 10),
                           edgecolors="black", linewidths=0.4, zorder=4, label=None if j else adapter,
                           gid=f"mean-{e.run_id}")
        _draw_front(ax, [(e.flops / 1e6, e.top1.mean) for e in methods], "-", "black", "methods' Pareto front")
        controls = [e for e in methods if e.control is not None and e.control_flops is not None]
        for j, e in enumerate(controls):
            _seeds(ax, e.control_flops / 1e6, e.control_runs, color="tab:red", control=True)
            ax.scatter([e.control_flops / 1e6], [e.control.mean], s=40, marker="X", color="tab:red",
                       edgecolors="black", linewidths=0.4, zorder=3, label=None if j else "random controls",
                       gid=f"control-{e.run_id}")
        _draw_front(ax, [(e.control_flops / 1e6, e.control.mean) for e in controls], "--", "tab:red",
               "random controls' front")
        for k, protocol in enumerate(sorted({p for p, _ in family.width_scaled})):
            series = sorted((e for p, e in family.width_scaled if p == protocol), key=lambda e: e.flops)
            for e in series:
                _seeds(ax, e.flops / 1e6, e.runs, color="dimgray")
            ax.plot([e.flops / 1e6 for e in series], [e.top1.mean for e in series], ":D", color="dimgray",
                    markersize=5, markeredgecolor="black", markeredgewidth=0.4, linewidth=1.0, zorder=3,
                    label=f"width-scaled dense, from scratch ({protocol})", gid=f"width-scaled-{k}")
        ax.scatter([d.flops / 1e6 for d in family.dense], [d.top1 for d in family.dense], marker="*", s=160,
                   color="gold", edgecolors="black", linewidths=0.6, zorder=5, label="dense model")
        ax.set_xscale("log")  # levels span a decade or more of FLOPs: a linear axis crowds the pruned end
        ax.set_xlabel("FLOPs after pruning (millions, log scale; fvcore, one multiply-add = one FLOP)")
        ax.set_title(f"{family.title}: every level", fontsize=9)

    return _svg((8.0, 4.6), draw)


def _draw_front(ax, points: list[tuple[float, float]], style: str, color: str, label: str) -> None:
    if len(points) >= 2:
        xs, ys = zip(*front(points))
        ax.plot(xs, ys, style, drawstyle="steps-post", color=color, linewidth=0.9, zorder=1, label=label)


def budget_svg(view: BudgetView) -> str:
    def draw(ax, color) -> None:
        for i, schedule in enumerate(RETRAINING):
            points = [p for p in view.points if p.schedule == schedule]
            if not points:
                continue
            for p in points:
                _seeds(ax, p.epochs, p.entry.runs, color=color(i))
            ax.plot([p.epochs for p in points], [p.entry.top1.mean for p in points], "-o", color=color(i),
                    markersize=5, zorder=4, label=f"{view.adapter} + {schedule}")
            controls = [p for p in points if p.entry.control is not None]
            for p in controls:
                _seeds(ax, p.epochs, p.entry.control_runs, color=color(i), control=True)
            if controls:
                ax.plot([p.epochs for p in controls], [p.entry.control.mean for p in controls], "--x",
                        color=color(i), markersize=6, zorder=3, label=f"random + {schedule}")
        ax.axhline(view.dense_top1, color="0.4", linestyle=":", linewidth=1.0, label="dense model")
        ax.set_xlabel("retraining budget (epochs)")
        ax.set_title(view.title, fontsize=9)

    return _svg((6.4, 3.8), draw)
