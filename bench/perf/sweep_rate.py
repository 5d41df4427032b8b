"""Runs per hour of `bench sweep` with K runs at once on this device (`bench perf --only sweep`).

A leaderboard is thousands of small trainings, so its cost is runs per machine-hour. This times the
real `bench sweep` (a new process, the local executor, `--jobs-per-device K`) on a small grid of
one-seed evaluations with their random controls, from fixed dense weights so that only retraining
is timed, each K in a fresh folder (nothing reused), and reports runs/hour for each K.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.models import build_model
from bench.perf.perf import _cli_seconds

# One-seed l1-norm evaluations (with controls) at these ratios, 1 epoch each (ft-1 on digits).
RATIOS = (0.3, 0.4, 0.5, 0.6)


@dataclass(frozen=True)
class SweepRate:
    per_device: int
    runs: int
    seconds: float

    @property
    def runs_per_hour(self) -> float:
        return self.runs * 3600.0 / self.seconds


def grid_text(ratios: tuple[float, ...] = RATIOS, protocol: str = "ft-1") -> str:
    listed = ", ".join(f"{r:g}" for r in ratios)
    return (f'protocols = ["{protocol}"]\nseeds = 1\ncheckpoint = "dense.pt"\n'
            f'[[adapters]]\nname = "l1-norm"\nratios = [{listed}]\n')


def sweep_rates(per_device: tuple[int, ...] = (1, 2, 4), ratios: tuple[float, ...] = RATIOS) -> list[SweepRate]:
    out = []
    for k in per_device:
        with tempfile.TemporaryDirectory(prefix="bench-sweep-rate-") as tmp:
            folder = Path(tmp)
            torch.manual_seed(0)
            torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), folder / "dense.pt")
            (folder / "grid.toml").write_text(grid_text(ratios))
            argv = ["sweep", "grid.toml", "--out", "out", "--runs-dir", "runs", "--jobs-per-device", str(k)]
            out.append(SweepRate(k, len(ratios), _cli_seconds(argv, folder)))
    return out


def report(rates: list[SweepRate]) -> str:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    runs = rates[0].runs if rates else 0
    lines = [f"bench sweep throughput on {device}: {runs} one-seed l1-norm evaluations with controls (ft-1) at each K"]
    base = rates[0].runs_per_hour if rates else 0.0
    for r in rates:
        lines.append(f"  K = {r.per_device}: {r.runs_per_hour:8.0f} runs/hour ({r.seconds:.1f} s for {r.runs} runs; ×{r.runs_per_hour / base:.2f} of K = {rates[0].per_device})")
    return "\n".join(lines)
