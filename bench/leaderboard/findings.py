"""The paper's two claims (Le & Hua 2021) checked on the records, one comparison per row.

Claim 1: a restarting schedule (LRW, SLR, CLR) retrains better than fine-tuning (FT) at the same
budget. For each method (adapter and arguments), dense baseline, level and budget (epochs): the
schedule's top-1 minus FT's.
Claim 2, as the paper fixes it in advance (its Tables 4 and 13): random pruning retrained with CLR
does at least as well as a method fine-tuned (FT) at the same level and budget. Random pruning is
the random control of the method's own CLR record (the same kept structure); the row is that control
minus the method under FT. The schedule is never picked on the test results it is compared with.

The two sides of a row come from two records, paired by seed index: seed k of one record with seed k
of the other (paired t interval over the seeds that finished in both, bench.leaderboard.stats); when
fewer than two seeds match, Welch's t interval over each record's finished seeds. Outcome: holds
when the 95% interval lies above 0, does not hold when below, inconclusive when it contains 0 or
there is no interval. Each claim is one family of tests, Holm-corrected (bench.leaderboard.stats).

Each comparison once: a schedule that trains exactly as FT (bench.leaderboard.verdicts: LRW
replaying only the last LR phase, LRW-40 on CIFAR's 160 epochs as the paper notes, and on digits)
is listed once as "the same schedule", never tested; two sides made of the same runs are not tested;
a record whose method runs are another record's random control (the `random` adapter reusing a
method's control runs) is that control, labelled so, and its comparisons count once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.core.config import canonical_json
from bench.leaderboard.entries import Entry, same_runs
from bench.leaderboard.group import Group
from bench.leaderboard.keys import RETRAINING, retraining_key
from bench.leaderboard.stats import ALPHA, Difference, difference, holm

HOLDS = "holds"
FAILS = "does not hold"
INCONCLUSIVE = "inconclusive"
SAME = "same schedule"
OUTCOMES = {1: HOLDS, -1: FAILS, 0: INCONCLUSIVE, None: INCONCLUSIVE}

CLAIM_1 = ("Claim 1: LRW, SLR or CLR beats FT at the same budget",
           "Retraining with a restarting schedule against fine-tuning (FT) for the same number of epochs, for the "
           "same method, level and dense model. Δ = schedule − FT.")
CLAIM_2 = ("Claim 2: random pruning with CLR does at least as well as a method with FT",
           "Fixed in advance, as in the paper's Tables 4 and 13: random pruning = the random control of the method's "
           "own CLR record (the same kept structure), retrained with CLR; the method is fine-tuned (FT) for the same "
           "budget. Δ = random + CLR − method + FT. An interval that contains 0 is consistent with a match but does "
           "not show one: inconclusive.")
PAIRING = ("Both sides come from different records: seeds are paired by seed index (seed k with seed k; paired t "
           "over the seeds that finished in both), or compared by Welch's t when fewer than two seeds match. "
           "Holds: the 95% interval lies above 0; does not hold: below 0; inconclusive: it contains 0 or n is "
           "too small. Each claim is one family of tests: a verdict says whether it holds after Holm's correction "
           "or only before it. Collapsed runs: how many runs of the two sides collapsed (kept in the means).")
MISSING_1 = ("Not enough records for claim 1: it needs the same method at the same level and budget under FT "
             "and under LRW, SLR or CLR.")
MISSING_2 = ("Not enough records for claim 2: it needs a method under FT with its random control, at a level and "
             "budget where some schedule's random control finished.")


@dataclass(frozen=True)
class Finding:
    setting: str  # dataset · model · level
    filters: dict[str, str]  # what the index page filters on
    adapter: str
    args: dict
    budget: int
    comparison: str
    diff: Difference
    groups: tuple[str, str]  # slugs of the two sides' groups
    collapsed: int = 0  # collapsed runs on the two sides together
    holm: float | None = None  # Holm-adjusted p within the claim

    @property
    def outcome(self) -> str:
        return OUTCOMES[self.diff.sign]

    @property
    def survives(self) -> bool:
        return self.diff.sign in (1, -1) and self.holm is not None and self.holm < ALPHA

    @property
    def verdict(self) -> str:
        """The outcome and whether it holds after Holm: "holds after Holm", "holds before correction only"."""
        if self.outcome == INCONCLUSIVE:
            return INCONCLUSIVE
        return f"{self.outcome} {'after Holm' if self.survives else 'before correction only'}"


@dataclass(frozen=True)
class Same:
    """A schedule that trains exactly as FT in one setting: listed once, never tested."""

    setting: str  # dataset · model
    schedule: str  # protocol name, e.g. lrw-40
    ft: str  # e.g. ft-40
    comparisons: int  # claim-1 rows it would have given
    groups: tuple[str, str]  # one pair of the two sides' groups

    @property
    def text(self) -> str:
        return (f"{self.setting}: {self.schedule} sets the same learning rate as {self.ft} at every step (same epochs, "
                f"batch size and optimiser), so it is the same schedule: {self.comparisons} comparisons not tested.")


@dataclass(frozen=True)
class Findings:
    claim1: list[Finding]
    claim2: list[Finding]
    same: list[Same] = field(default_factory=list)  # schedules that train exactly as FT: not tested


def _cells(groups: list[Group]) -> dict[str, dict[str, list[tuple[Group, Entry]]]]:
    """Entries of one method, baseline, level and budget, by schedule."""
    cells: dict[str, dict[str, list[tuple[Group, Entry]]]] = {}
    for g in groups:
        if g.protocol["schedule"] not in RETRAINING:
            continue
        for e in g.entries:  # a diverged entry still counts with the seeds that finished
            key = {**g.baseline, "level": g.key["level"], "retraining": retraining_key(g.protocol),
                   "method": e.method_id}
            cells.setdefault(canonical_json(key), {}).setdefault(g.protocol["schedule"], []).append((g, e))
    return cells


def _finding(g: Group, e: Entry, comparison: str, diff: Difference, other: Group, collapsed: int,
             adapter: str | None = None) -> Finding:
    filters = {k: v for k, v in g.filters.items() if k != "protocol"}
    return Finding(f"{g.dataset} · {g.model} · {g.level.text}", filters, adapter or e.adapter, e.args,
                   g.protocol["epochs"], comparison, diff, (g.slug, other.slug), collapsed)


def _runs_key(keys: dict[int, str]) -> str:
    return canonical_json(sorted(keys.items()))


def _controls(groups: list[Group]) -> dict[str, list[Entry]]:
    """The entries whose random control is made of these runs, by the runs' keys."""
    found: dict[str, list[Entry]] = {}
    for g in groups:
        for e in g.entries:
            if e.control_keys:
                found.setdefault(_runs_key(e.control_keys), []).append(e)
    return found


def _control_of(e: Entry, controls: dict[str, list[Entry]]) -> Entry | None:
    """The entry whose random control `e`'s method runs are (the `random` adapter reusing them), if any."""
    owners = [o for o in controls.get(_runs_key(e.run_keys), []) if o is not e] if e.run_keys else []
    return owners[0] if owners else None


def _name(e: Entry, controls: dict[str, list[Entry]]) -> str:
    owner = _control_of(e, controls)
    return e.adapter if owner is None else f"random control of {owner.adapter}"


def _schedule_vs_ft(cells: list[dict]):
    """Every (schedule, its group and entry, FT's group and entry) of one method, level and budget."""
    for by_schedule in cells:
        for schedule in RETRAINING[1:]:
            for gs, es in by_schedule.get(schedule, []):
                for gf, ef in by_schedule.get("ft", []):
                    yield schedule, gs, es, gf, ef


def _claim1(cells: list[dict], same: dict[str, str], controls: dict[str, list[Entry]]) -> tuple[list[Finding], list[Same]]:
    rows, seen, alike = [], set(), {}
    for schedule, gs, es, gf, ef in _schedule_vs_ft(cells):
        if same.get(gs.slug) == gf.slug:  # FT under another name: listed once, never tested
            key = (f"{gf.dataset} · {gf.model}", gs.protocol["name"], gf.protocol["name"])
            alike.setdefault(key, []).append((gf.slug, gs.slug))
            continue
        pair = (_runs_key(es.run_keys), _runs_key(ef.run_keys))
        if gs.slug in same or gf.slug in same or same_runs(es.run_keys, ef.run_keys) or pair in seen:
            continue  # tested under the schedule's other name, the same runs on both sides, or made already
        if es.run_keys and ef.run_keys:
            seen.add(pair)
        diff = difference(es.runs, ef.runs)
        if diff is not None:  # None: every seed of one side diverged
            collapsed = len(es.collapsed) + len(ef.collapsed)
            rows.append(_finding(gf, ef, f"{schedule} vs ft", diff, gs, collapsed, _name(ef, controls)))
    return rows, [Same(*key, len(pairs), pairs[0]) for key, pairs in sorted(alike.items())]


def _claim2(cells: list[dict], same: dict[str, str], controls: dict[str, list[Entry]]) -> list[Finding]:
    rows = []
    for by_schedule in cells:
        clr = [(g, e) for g, e in by_schedule.get("clr", []) if g.slug not in same and e.control_runs]
        for gf, ef in by_schedule.get("ft", []):
            if gf.slug in same or ef.adapter == "random" or _control_of(ef, controls) is not None:
                continue  # random pruning itself, under FT: no method to compare with
            for gc, ec in clr:
                diff = difference(ec.control_runs, ef.runs)
                if diff is not None and not same_runs(ec.control_keys, ef.run_keys):
                    collapsed = len(ec.control_collapsed) + len(ef.collapsed)
                    rows.append(_finding(gf, ef, f"random + clr vs {ef.adapter} + ft", diff, gc, collapsed))
    return rows


def _corrected(rows: list[Finding]) -> list[Finding]:
    """The claim's rows, sorted, each test with its Holm-adjusted p within the claim."""
    rows = sorted(rows, key=_order)
    tested = [i for i, f in enumerate(rows) if f.diff.p is not None]
    for i, p in zip(tested, holm([rows[i].diff.p for i in tested])):
        rows[i] = replace(rows[i], holm=p)
    return rows


def _order(f: Finding) -> tuple:
    return f.setting, f.adapter, canonical_json(f.args), f.budget, f.comparison, f.groups


def findings(groups: list[Group], same: dict[str, str] | None = None) -> Findings:
    """Both claims; `same` maps a group whose schedule is another's to it (bench.leaderboard.verdicts)."""
    same = same or {}
    cells, controls = list(_cells(groups).values()), _controls(groups)
    claim1, alike = _claim1(cells, same, controls)
    return Findings(_corrected(claim1), _corrected(_claim2(cells, same, controls)), alike)
