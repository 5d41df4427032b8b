"""The LR schedule of a resolved protocol drawn as a figure (`bench protocols show --plot`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.core.protocols import ResolvedProtocol
from bench.errors import BenchError


_PLOT_FORMATS = ("png", "pdf", "svg")
_MAX_PLOT_POINTS = 20_000  # ImageNet schedules have ~10^5-10^6 steps; the line looks the same


def plot_schedule(resolved: ResolvedProtocol, steps_per_epoch: int, path: str | os.PathLike[str]) -> Path:
    """Plot LR vs epoch to `path` (png/pdf/svg by extension), written atomically."""
    out = Path(path)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in _PLOT_FORMATS:
        raise BenchError(f"cannot plot to {out}: extension must be one of {', '.join('.' + f for f in _PLOT_FORMATS)}")
    # The object-oriented API with the Agg canvas never touches pyplot's global backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    total = resolved.total_steps(steps_per_epoch)
    stride = max(1, total // _MAX_PLOT_POINTS)
    steps = list(range(0, total, stride))
    if steps[-1] != total - 1:
        steps.append(total - 1)
    fn = resolved.lr_fn(steps_per_epoch)

    fig = Figure(figsize=(6, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([s / steps_per_epoch for s in steps], [fn(s) for s in steps], drawstyle="steps-post")
    ax.set_yscale("log")  # step schedules span decades; linear would flatten the low phases
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title(f"{resolved.name} (v{resolved.version}): {resolved.epochs} epochs")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix, dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format=fmt)
        os.replace(tmp, out)  # readers never see a half-written plot
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
