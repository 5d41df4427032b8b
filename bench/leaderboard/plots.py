"""Accuracy vs FLOPs scatter of one group as a deterministic SVG string."""

from __future__ import annotations

import io

from bench.leaderboard.group import Group

_SALT = "prunebench-leaderboard"  # fixed ids in the SVG: same input, same bytes


def scatter_svg(group: Group) -> str:
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.hashsalt": _SALT, "svg.fonttype": "path", "font.size": 9}):
        fig = Figure(figsize=(7, 4.5))
        FigureCanvasSVG(fig)  # the object API: never touches pyplot's global state or backend
        ax = fig.add_subplot()
        linked = False
        for e in group.ranked:
            if e.control_top1_mean is not None and e.control_flops is not None:
                ax.plot([e.flops / 1e6, e.control_flops / 1e6], [e.top1_mean, e.control_top1_mean],
                        color="0.6", linewidth=0.8, zorder=1, label=None if linked else "method → its control")
                linked = True
        methods = [e for e in group.ranked if e.top1_mean is not None]
        ax.scatter([e.flops / 1e6 for e in methods], [e.top1_mean for e in methods],
                   marker="o", color="tab:blue", zorder=3, label="method")
        for e in methods:
            ax.annotate(str(e.rank), (e.flops / 1e6, e.top1_mean),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
        controls = [e for e in group.ranked if e.control_top1_mean is not None and e.control_flops is not None]
        if controls:
            ax.scatter([e.control_flops / 1e6 for e in controls], [e.control_top1_mean for e in controls],
                       marker="x", color="tab:red", zorder=2, label="its random control")
        ax.scatter([d.flops / 1e6 for d in group.dense], [d.top1 for d in group.dense],
                   marker="*", s=160, color="gold", edgecolors="black", linewidths=0.6, zorder=4, label="dense model")
        ax.set_xlabel("FLOPs after pruning (millions; fvcore, one multiply-add = one FLOP)")
        ax.set_ylabel("test top-1 (%)")
        ax.set_title(group.title)
        ax.grid(True, linewidth=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
