"""Verdicts a reviewer would accept, applied to the groups once they are built.

- Each comparison once: groups of one dense baseline and level whose protocols train alike, the same
  LR at every step (bench.core.protocols.same_schedule: LRW-40 is FT-40 on digits and on CIFAR), are
  one schedule under two names. The first in RETRAINING order keeps the tests; the others' entries
  are marked SAME_SCHEDULE and their table points to it.
- Family (a): every method against its own random control, across the whole leaderboard, with
  Holm's correction (bench.leaderboard.stats.holm).
- Power: each ranked table states the smallest difference its seeds detect, and is *saturated* when
  every method lies within that of its control and no verdict holds after Holm.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace

from bench.core.config import canonical_json
from bench.core.protocols import ResolvedProtocol, same_schedule
from bench.leaderboard.entries import BEATEN, BEATS, SAME_SCHEDULE, TIED, TOO_FEW, Entry
from bench.leaderboard.group import Group
from bench.leaderboard.keys import RETRAINING, retraining_key
from bench.leaderboard.stats import ALPHA, detectable, holm, pooled_sd


@dataclass(frozen=True)
class Power:
    n: int  # seeds (pairs) of the table's typical test
    spread: float  # pooled standard deviation of the per-seed differences from the controls
    detectable: float | None  # smallest difference found with 80% power at α = 0.05
    saturated: bool


@dataclass(frozen=True)
class Correction:
    """One family of tests and what Holm's correction leaves of its verdicts."""

    family: str
    tests: int
    raw: int  # verdicts (either sign) whose 95% interval excludes 0 on its own
    holm: int  # of those, the verdicts that hold after Holm

    @property
    def text(self) -> str:
        return f"{self.family}: {self.tests} tests, {self.raw} verdicts at 95% alone, {self.holm} after Holm"


def correction(family: str, tests: list[tuple[int | None, float | None]]) -> Correction:
    """From each test's (sign of its interval, Holm-adjusted p)."""
    raw = [sign for sign, _ in tests if sign]
    kept = [sign for sign, p in tests if sign and p is not None and p < ALPHA]
    return Correction(family, len(tests), len(raw), len(kept))


# --- the same schedule under two names -------------------------------------------------------------


def _resolved(record: dict) -> tuple[ResolvedProtocol, int] | None:
    """A record's protocol and its steps per epoch (last partial batch kept), or None when unknown."""
    try:
        protocol = ResolvedProtocol.from_dict(record["protocol"])
    except (KeyError, TypeError):  # a record from another version lacks a field
        return None
    return protocol, math.ceil(record["dataset"]["sizes"]["train"] / protocol.batch_size)


def _alike(a: tuple[ResolvedProtocol, int] | None, b: tuple[ResolvedProtocol, int] | None) -> bool:
    return a is not None and b is not None and a[1] == b[1] and same_schedule(a[0], b[0], a[1])


def same_schedules(groups: list[Group], records: dict[str, dict]) -> dict[str, str]:
    """Slug of each group whose schedule is an earlier group's → that group's slug (`records`: by file)."""
    candidates: dict[str, list[Group]] = {}
    for g in groups:
        if g.protocol["schedule"] in RETRAINING and g.entries:
            key = {**g.baseline, "level": g.key["level"], "retraining": retraining_key(g.protocol)}
            candidates.setdefault(canonical_json(key), []).append(g)
    same: dict[str, str] = {}
    for members in candidates.values():
        members = sorted(members, key=lambda g: (RETRAINING.index(g.protocol["schedule"]), g.protocol["name"], g.slug))
        resolved = {g.slug: _resolved(records[g.entries[0].file]) for g in members}
        for i, g in enumerate(members):
            first = next((h for h in members[:i] if h.slug not in same and _alike(resolved[h.slug], resolved[g.slug])), None)
            if first is not None:
                same[g.slug] = first.slug
    return same


def _untested(e: Entry) -> Entry:
    return replace(e, status=SAME_SCHEDULE) if e.status in (BEATS, TIED, BEATEN, TOO_FEW) else e


# --- family (a) and power --------------------------------------------------------------------------


def correct(groups: list[Group], same: dict[str, str]) -> tuple[list[Group], Correction]:
    """The groups with same-schedule entries marked and family (a) Holm-corrected; the family's counts."""
    groups = [replace(g, ranked=[_untested(e) for e in g.ranked], diverged=[_untested(e) for e in g.diverged])
              if g.slug in same else g for g in groups]
    tested = [(i, j) for i, g in enumerate(groups) for j, e in enumerate(g.ranked) if e.tested]
    adjusted = holm([groups[i].ranked[j].vs_random.p for i, j in tested])
    ranked = [list(g.ranked) for g in groups]
    for (i, j), p in zip(tested, adjusted):
        ranked[i][j] = replace(ranked[i][j], holm=p)
    groups = [replace(g, ranked=r) for g, r in zip(groups, ranked)]
    signs = [(groups[i].ranked[j].vs_random.sign, groups[i].ranked[j].holm) for i, j in tested]
    return groups, correction("(a) method vs its random control", signs)


def power(g: Group) -> Power | None:
    """The table's detectable difference and saturation; None when it holds no paired test."""
    tests = [e for e in g.ranked if e.tested and e.vs_random.sd is not None]
    spread = pooled_sd([e.vs_random for e in tests])
    if spread is None:
        return None
    n = statistics.median_low(e.vs_random.n for e in tests)
    smallest = detectable(spread, n)
    saturated = smallest is not None and not any(e.survives for e in tests) and all(
        abs(e.vs_random.mean) < smallest for e in tests)
    return Power(n, spread, smallest, saturated)
