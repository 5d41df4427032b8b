"""One entry: a record's method arm, compared with that record's own random control (paired by seed),
its allocation control and its dense model; its verdict, and the ranking of entries by top-1."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from bench.core.config import canonical_json
from bench.core.records import collapsed
from bench.leaderboard.load import Submission
from bench.leaderboard.stats import ALPHA, Difference, Summary, difference, summary

ADAPTER_MODULE = re.compile(r"^bench\.adapters\.([A-Za-z_][A-Za-z0-9_]*)$")

# Why an entry sits where it does; shown in the verdict column and used to split the ranking.
BEATS = "beats its random control"
TIED = "tied"
BEATEN = "beaten by random"
TOO_FEW = "n too small"  # fewer than 2 seeds in both arms: no interval
VERDICTS = {1: BEATS, 0: TIED, -1: BEATEN, None: TOO_FEW}
CONTROL = "control"  # the entry *is* random pruning
NO_CONTROL = "no control"
REFERENCE = "from-scratch reference"  # the width-scaled dense model: an architecture, never a control
# The adapter of the width-scaled dense model trained from scratch (adapters/width_scaled.py), named
# here because the leaderboard never imports the adapters. Its entries are also drawn as a series on
# every accuracy-vs-FLOPs plot of the same dense baseline.
WIDTH_SCALED = "width-scaled"
CONTROL_DIVERGED = "control diverged"
ALLOCATION_ARM = "own"  # the record trained an allocation control of its own
ALLOCATION_SAME = "same as random control"  # uniform widths at its FLOPs are its own widths
DIVERGED = "diverged"  # a seed of the method diverged: not ranked
# Not tests: the same runs on both sides (Scratch-B's l1-norm and its control keep the same channels),
# or a group whose schedule is another group's under another name (bench.leaderboard.verdicts).
IDENTICAL = "same runs as its control"
SAME_SCHEDULE = "same schedule"


@dataclass(frozen=True)
class Entry:
    file: str
    run_id: str
    adapter: str
    args: dict[str, Any]
    module: str | None
    paper: str | None
    kind: str
    target: str
    epochs: int
    seeds: int
    params: int
    flops: int
    params_reduction_pct: float
    flops_reduction_pct: float
    runs: dict[int, float]  # seed → top-1, the seeds that finished
    top1: Summary | None  # None when a seed diverged: the entry is not ranked
    diverged: bool
    dense_run_id: str
    dense_top1: float
    dense_params: int
    dense_flops: int
    control_runs: dict[int, float]
    control: Summary | None  # over the control's finished seeds
    control_flops: int | None
    vs_random: Difference | None  # method minus its own control, paired by seed
    status: str  # a verdict (BEATS, TIED, BEATEN, TOO_FEW), CONTROL, NO_CONTROL, REFERENCE, CONTROL_DIVERGED,
    # DIVERGED, IDENTICAL or SAME_SCHEDULE
    speedup: dict[str, float] | None = None  # measured vs FLOPs speedup, in records that carry latency
    rank: int | None = None
    verified: tuple[str, str] | None = None  # `bench verify`'s (outcome, who re-ran what where), the outcome judged here
    run_keys: dict[int, str] = field(default_factory=dict)  # seed → run key (records that state them)
    control_keys: dict[int, str] = field(default_factory=dict)
    collapsed: dict[int, float] = field(default_factory=dict)  # seed → top-1 of each collapsed run
    control_collapsed: dict[int, float] = field(default_factory=dict)
    holm: float | None = None  # Holm-adjusted p of the test against the control, across the leaderboard
    # The allocation control (uniform random pruning in the layout at the method's FLOPs): ALLOCATION_ARM
    # where the record trained one, ALLOCATION_SAME where it is the random control's network, None if not run.
    allocation: str | None = None
    vs_allocation: Difference | None = None  # method minus its allocation control, paired by seed

    @property
    def flops_speedup(self) -> float:
        """Dense FLOPs ÷ the entry's FLOPs: the cost it is ranked at."""
        return self.dense_flops / max(self.flops, 1)

    @property
    def source_path(self) -> str | None:
        """Repository path of a built-in adapter's source, e.g. adapters/l1_norm.py."""
        match = ADAPTER_MODULE.match(self.module or "")
        return f"adapters/{match.group(1)}.py" if match else None

    @property
    def method_id(self) -> tuple[str, str]:
        """The same method: the same adapter with the same arguments."""
        return self.adapter, canonical_json(self.args)

    @property
    def top1_mean(self) -> float | None:
        return None if self.top1 is None else self.top1.mean

    @property
    def delta_dense(self) -> float | None:
        return None if self.top1 is None else self.top1.mean - self.dense_top1

    @property
    def delta_random(self) -> float | None:
        return None if self.vs_random is None else self.vs_random.mean

    @property
    def has_control(self) -> bool:
        return self.status in VERDICTS.values()

    @property
    def tested(self) -> bool:
        """Whether the entry is a test against its control (one of family (a)): an interval and a p."""
        return self.status in (BEATS, TIED, BEATEN) and self.vs_random is not None and self.vs_random.p is not None

    @property
    def survives(self) -> bool:
        """A verdict (beats or beaten) that holds after Holm's correction."""
        return self.status in (BEATS, BEATEN) and self.holm is not None and self.holm < ALPHA


def finished_runs(arm: dict | str | None) -> dict[int, float]:
    """Seed → top-1 of an arm's runs that finished (none for a missing arm, or one named by a string)."""
    if not isinstance(arm, dict):
        return {}
    return {run["seed"]: run["top1"] for run in arm["runs"] if not run["diverged"] and run["top1"] is not None}


def _keys(arm: dict | None) -> dict[int, str]:
    return {} if arm is None else {run["seed"]: run["run_key"] for run in arm["runs"] if "run_key" in run}


def _collapsed(arm: dict | None, classes: int) -> dict[int, float]:
    """Seed → top-1 of the runs that collapsed: the stated flag, or the rule for records without one."""
    if arm is None:
        return {}
    return {run["seed"]: run["top1"] for run in arm["runs"] if run.get("collapsed", collapsed(run, classes))}


def same_runs(a: dict[int, str], b: dict[int, str]) -> bool:
    """Two arms made of the very same runs: every seed's run key stated and equal."""
    return bool(a) and a == b


def entry(sub: Submission) -> Entry:
    r = sub.record
    method, control, dense = r["method"], r["random_control"], r["dense"]
    runs, control_runs = finished_runs(method), finished_runs(control)
    diverged = method["diverged"] or method["top1_mean"] is None
    vs_random = None
    if diverged:
        status = DIVERGED
    elif r["adapter"]["name"] == "random":
        status = CONTROL
    elif r["adapter"]["name"] == WIDTH_SCALED:
        status = REFERENCE
    elif control is None:
        status = NO_CONTROL
    elif same_runs(_keys(method), _keys(control)) and runs == control_runs:
        status = IDENTICAL  # no test: a difference of 0 with a point interval says nothing
    else:
        vs_random = difference(runs, control_runs)
        status = CONTROL_DIVERGED if vs_random is None else VERDICTS[vs_random.sign]
    classes = r["dataset"]["num_classes"]
    allocation, vs_allocation = _allocation(r.get("allocation_control"), runs, vs_random, diverged)
    return Entry(
        file=sub.file, run_id=r["run_id"], adapter=r["adapter"]["name"], args=r["adapter"]["args"],
        module=r["adapter"].get("module"), paper=r["adapter"].get("paper"), kind=r["adapter"]["kind"],
        target=r["target"]["description"], epochs=r["protocol"]["epochs"], seeds=len(method["runs"]),
        params=method["params"], flops=method["flops"],
        params_reduction_pct=method["params_reduction_pct"], flops_reduction_pct=method["flops_reduction_pct"],
        runs=runs, top1=None if diverged else summary(list(runs.values())), diverged=diverged,
        dense_run_id=dense["run_id"], dense_top1=dense["test_top1"],
        dense_params=dense["params"], dense_flops=dense["flops"],
        control_runs=control_runs, control=summary(list(control_runs.values())),
        control_flops=control["flops"] if control is not None else None,
        vs_random=vs_random, status=status,
        speedup=method.get("latency", {}).get("speedup"),
        verified=_verified(sub.verification),
        run_keys=_keys(method), control_keys=_keys(control),
        collapsed=_collapsed(method, classes), control_collapsed=_collapsed(control, classes),
        allocation=allocation, vs_allocation=vs_allocation,
    )


def _allocation(arm: dict | str | None, runs: dict[int, float], vs_random: Difference | None,
                diverged: bool) -> tuple[str | None, Difference | None]:
    if arm is None:
        return None, None
    if isinstance(arm, str):  # the random control's network: the same comparison
        return ALLOCATION_SAME, vs_random
    return ALLOCATION_ARM, None if diverged else difference(runs, finished_runs(arm))


def _verified(verification: dict | None) -> tuple[str, str] | None:
    """(outcome, who re-ran which seeds where), the outcome judged here from the rerun's numbers."""
    if verification is None:
        return None
    seeds = ", ".join(map(str, verification["seeds"]))
    return verification["status"], f"seed {seeds} re-run by {verification['verifier']} on {verification['device']}"


def _order(e: Entry) -> tuple:
    return (-(e.top1_mean or 0.0), e.adapter, e.run_id)


def rank(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(ranked, diverged). Best top-1 first, whatever the entry's control: an entry without one is
    marked in its verdict column, not demoted (accuracy is what the ranking states)."""
    live = [e for e in entries if not e.diverged]
    ranked = [replace(e, rank=i) for i, e in enumerate(sorted(live, key=_order), 1)]
    diverged = sorted((e for e in entries if e.diverged), key=lambda e: (e.adapter, e.run_id))
    return ranked, diverged
