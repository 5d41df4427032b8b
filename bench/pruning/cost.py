"""Cost targets: find the one free parameter of an adapter's allocation that reaches a FLOPs speed-up.

The field ranks pruners at matched cost (Torch-Pruning's reproductions prune until dense MACs ÷ pruned
MACs reaches a target speed-up; PruningBench ranks at 2×/4×/8×). A ratio does not fix the cost: each
layout turns one ratio into networks 2-3× apart in FLOPs. So `--speedup S` searches, in the adapter's
own layout, its one free parameter until the genuinely pruned network has dense FLOPs ÷ S:

- a layerwise method's widths depend only on its ratio (one rate for every entry of the layout), so
  the search needs no scores and no weights: SFP knows its rate before its soft phase;
- a globally allocated method (slimming, taylor) removes the n lowest of its scores over the layout,
  so its ratio (n ÷ the layout's channels) is searched on its own scores, computed once.

A layerwise layout's FLOPs move in coarse steps (at a ratio of 9/16 every 16-, 32- and 64-channel layer
of a CIFAR ResNet loses a channel at once), so between the two ratios that bracket the target the
units that differ take the larger ratio's count one at a time, in module order (`CostSearch._between`):
each unit still keeps what the method's rule keeps at one of two neighbouring ratios, and the cost
lands within a fraction of a percent.

Every candidate is counted as the record counts it: its channels are removed from a copy and fvcore
counts the result (`bench.core.counting.count`), once per distinct structure. FLOPs fall
monotonically as the ratio grows, so bisection brackets the target between two neighbouring
structures and the nearer wins. Channel granularity can leave no network within `TOLERANCE` of the
target; the nearest is then used and the match says so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from bench.core.counting import Counts, count
from bench.errors import BenchError
from bench.pruning.allocation import target_counts
from bench.pruning.apply import layout_for, score_units
from bench.pruning.interface import Adapter
from bench.pruning.surgery import remove_channels
from bench.pruning.targets import KeepCounts, Target
from bench.pruning.units import Units

if TYPE_CHECKING:  # the job's type only: job.py calls this module
    from bench.pruning.job import PruneJob

TOLERANCE = 0.005  # of the dense FLOPs: how far from the target a matched network may land
MAX_RATIO = 1 - 1e-9  # the most any ratio removes: every unit keeps its last channel
_BISECTIONS = 60  # ratio resolution 2^-60: far finer than one channel of any layer


@dataclass(frozen=True)
class CostMatch:
    """The network a cost target resolved to: the adapter's ratio and what it measures."""

    speedup: float  # asked: dense FLOPs ÷ pruned FLOPs
    ratio: float  # the free parameter found (the layout's rate, or the global fraction removed)
    flops: int
    params: int
    dense_flops: int
    dense_params: int
    candidates: int  # structures counted by the search
    counts: dict[str, int]  # channels every unit keeps
    stepped: int = 0  # units that took the next ratio's count (0: the ratio's own network)

    @property
    def achieved_speedup(self) -> float:
        return self.dense_flops / self.flops

    @property
    def error(self) -> float:
        """Distance from the target FLOPs, as a fraction of the dense FLOPs."""
        return abs(self.flops - self.dense_flops / self.speedup) / self.dense_flops

    @property
    def exact(self) -> bool:
        return self.error <= TOLERANCE

    @property
    def keep(self) -> KeepCounts:
        return KeepCounts(tuple(self.counts.items()), self.speedup)

    @property
    def note(self) -> str | None:
        if self.exact:
            return None
        return (
            f"no network of this layout lies within {TOLERANCE:.1%} of the dense FLOPs of a {self.speedup:g}x speed-up "
            f"(channel granularity); the nearest, {self.achieved_speedup:.3f}x, is {self.error:.2%} of the dense FLOPs away"
        )

    def to_dict(self) -> dict:
        return {
            "speedup": self.speedup,
            "achieved_speedup": round(self.achieved_speedup, 4),
            "ratio": self.ratio,
            "units_stepped": self.stepped,
            "flops": self.flops,
            "params": self.params,
            "error_of_dense_flops": round(self.error, 6),
            "exact": self.exact,
        }


class _Candidates:
    """Counts the network a set of per-unit keep counts gives, once per distinct set."""

    def __init__(self, model: nn.Module, units: Units, example_inputs: torch.Tensor):
        self.model, self.units, self.example_inputs = model, units, example_inputs
        self.seen: dict[tuple, Counts] = {}

    def __call__(self, counts: dict[str, int]) -> Counts:
        key = tuple(sorted(counts.items()))
        if key not in self.seen:
            # Which channels go does not change the cost, only how many: keep each unit's first ones.
            small = copy.deepcopy(self.model)
            units = Units(small, True, self.example_inputs, self.units.layout)
            keep = {u: torch.arange(size) < counts[u] for u, size in units.sizes.items()}
            remove_channels(small, units, keep, self.example_inputs)
            self.seen[key] = count(small, self.example_inputs)
        return self.seen[key]


class CostSearch:
    """The search space of one adapter on one model (the job's, in the job's layout; its target is not
    read): ratio → keep counts → counted network."""

    def __init__(self, job: PruneJob, *, scores: bool = True):
        adapter, model = job.adapter, job.model
        if adapter.kind != "structured":
            raise BenchError(f"--speedup is a FLOPs target for structured pruning; {adapter.name} is unstructured")
        self.model_name, self.adapter = job.model_name, adapter
        self.units = Units(model, True, job.example_inputs, layout_for(model, job.model_name, adapter, job.layout))
        # Only a global allocation depends on the scores; `scores=False` checks reach without them.
        global_ = adapter.allocation == "global"
        self.scores = (
            score_units(model, adapter, self.units, example_inputs=job.example_inputs, calibration=list(job.calibration),
                        seed=job.seed)
            if global_ and scores
            else {u: torch.zeros(size) for u, size in self.units.sizes.items()}
        )
        self.candidates = _Candidates(model, self.units, job.example_inputs)
        self.dense = count(model, job.example_inputs)

    def keep_counts(self, ratio: float) -> dict[str, int]:
        return target_counts(self.model_name, self.adapter, Target(ratio=ratio), self.units, self.scores)

    def counts(self, ratio: float) -> Counts:
        return self.candidates(self.keep_counts(ratio))

    def reach(self) -> float:
        """The largest speed-up this layout reaches (every pruned unit down to one channel)."""
        return self.dense.flops / self.counts(MAX_RATIO).flops

    def check(self, speedup: float) -> None:
        most = self.reach()
        if speedup > most:
            raise BenchError(
                f"--speedup {speedup:g} is out of reach for {self.adapter.name} on {self.model_name} in its "
                f"{self.units.layout.name} layout: it reaches 1x to {most:.2f}x"
            )

    def match(self, speedup: float) -> CostMatch:
        self.check(speedup)
        goal = self.dense.flops / speedup
        lo, hi = 0.0, MAX_RATIO  # FLOPs(lo) > goal >= FLOPs(hi)
        lo_counts, hi_counts = dict(self.units.sizes), self.keep_counts(hi)
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            mid_counts = self.keep_counts(mid)
            if mid_counts == hi_counts:
                hi = mid  # the same network: no need to count it
            elif mid_counts == lo_counts:
                lo = mid
            elif self.candidates(mid_counts).flops > goal:
                lo, lo_counts = mid, mid_counts
            else:
                hi, hi_counts = mid, mid_counts
        counts, stepped = self._between(lo_counts, hi_counts, goal)
        found = self.candidates(counts)
        return CostMatch(speedup, hi if stepped else lo, found.flops, found.params, self.dense.flops, self.dense.params,
                         len(self.candidates.seen), counts, stepped)

    def _between(self, lo: dict[str, int], hi: dict[str, int], goal: float) -> tuple[dict[str, int], int]:
        """The network nearest the goal on the path from `lo` (just above it) to `hi` (at or below):
        the units whose count differs take `hi`'s one at a time, in module order. A layerwise layout
        steps many layers at once (16-, 32- and 64-channel layers all switch at a ratio of 9/16), so
        the path is what makes a cost reachable to a fraction of a percent; every unit on it keeps
        what the method's own rule keeps at one of two neighbouring ratios. Returns the counts and how
        many units took `hi`'s."""
        differ = [u for u in self.units.sizes if lo[u] != hi[u]]
        path = lambda k: {**lo, **{u: hi[u] for u in differ[:k]}}  # noqa: E731
        a, b = 0, len(differ)  # FLOPs(path(a)) > goal >= FLOPs(path(b)), falling monotonically along the path
        while b - a > 1:
            mid = (a + b) // 2
            if self.candidates(path(mid)).flops > goal:
                a = mid
            else:
                b = mid
        # The nearer neighbour; at a tie the smaller network (a speed-up target is a minimum).
        k = min((b, a), key=lambda k: abs(self.candidates(path(k)).flops - goal))
        return path(k), k


def match_speedup(job: PruneJob) -> CostMatch:
    """The adapter's ratio whose pruned model has its dense FLOPs ÷ the job's `--speedup` (see the module docstring)."""
    return CostSearch(job).match(job.target.speedup)


def check_reach(job: PruneJob) -> None:
    """Fail fast, before any training or scoring: is the job's `--speedup` reachable at all? (The extreme
    network, one channel per pruned unit, does not depend on the weights or the scores.)"""
    CostSearch(job, scores=False).check(job.target.speedup)


def resolve_target(job: PruneJob) -> tuple[Target | KeepCounts | None, CostMatch | None]:
    """What the job prunes to: a speed-up resolved to keep counts (with its match), any other target as it is."""
    if not isinstance(job.target, Target) or job.target.speedup is None:
        return job.target, None
    match = match_speedup(job)
    return match.keep, match


def uniform_at_flops(job: PruneJob, uniform: Adapter, flops: int) -> CostMatch:
    """The allocation control's widths: one rate for every entry of the job's layout (by the job's
    adapter's own rounding rule), at `flops`, the method's FLOPs. `uniform` is the layerwise adapter
    whose search it is (random pruning: its widths need no scores)."""
    uniform.rounding = job.adapter.rounding  # the method's rule for turning a rate into channels, not the control's
    search = CostSearch(replace(job, adapter=uniform), scores=False)
    return search.match(search.dense.flops / flops)
