"""The paper's two claims (Le & Hua 2021) checked on the records, one comparison per row.

Claim 1: a restarting schedule (LRW, SLR, CLR) retrains better than fine-tuning (FT) at the same
budget. For each method (adapter and arguments), dense baseline, level and budget (epochs): the
schedule's top-1 minus FT's.
Claim 2: random pruning retrained with its best schedule does at least as well as a method
fine-tuned at the same level and budget. Random pruning is the random control of the method's own
records (the same kept structure); its best schedule is the one with the highest mean top-1 at that
budget, chosen on the same results it is then compared with (which slightly favours random). The
row is that control minus the method under FT.

The two sides of a row come from two records, paired by seed index: seed k of one record with seed k
of the other (paired t interval over the seeds that finished in both, bench.leaderboard.stats); when
fewer than two seeds match, Welch's t interval over each record's finished seeds. Outcome: holds
when the 95% interval lies above 0, does not hold when below, inconclusive when it contains 0 or
there is no interval. A schedule whose learning rate is FT's at every step (LRW replaying only the
last LR phase: LRW-40 on CIFAR's 160 epochs, as the paper notes) is "the same schedule" instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.config import canonical_json
from bench.core.protocols import ResolvedProtocol
from bench.leaderboard.group import RETRAINING, Entry, Group, retraining_key
from bench.leaderboard.stats import Difference, difference

HOLDS = "holds"
FAILS = "does not hold"
INCONCLUSIVE = "inconclusive"
SAME = "same schedule"
OUTCOMES = {1: HOLDS, -1: FAILS, 0: INCONCLUSIVE, None: INCONCLUSIVE}

CLAIM_1 = ("Claim 1: LRW, SLR or CLR beats FT at the same budget",
           "Retraining with a restarting schedule against fine-tuning (FT) for the same number of epochs, for the "
           "same method, level and dense model. Δ = schedule − FT.")
CLAIM_2 = ("Claim 2: random pruning with its best schedule does at least as well as a method with FT",
           "Random pruning = the random controls of the method's own records (the same kept structure), retrained "
           "with the schedule that gives them the highest mean top-1 at that level and budget (chosen on these same "
           "results, which slightly favours random); the method is fine-tuned (FT). Δ = random + best − method + FT. "
           "An interval that contains 0 is consistent with a match but does not show one: inconclusive.")
PAIRING = ("Both sides come from different records: seeds are paired by seed index (seed k with seed k; paired t "
           "over the seeds that finished in both), or compared by Welch's t when fewer than two seeds match. "
           "Holds: the 95% interval lies above 0; does not hold: below 0; inconclusive: it contains 0 or n is "
           "too small.")
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
    same_schedule: bool = False  # both sides train with the same LR at every step

    @property
    def outcome(self) -> str:
        return SAME if self.same_schedule else OUTCOMES[self.diff.sign]


@dataclass(frozen=True)
class Findings:
    claim1: list[Finding]
    claim2: list[Finding]


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


def _finding(g: Group, e: Entry, comparison: str, diff: Difference, other: Group, same: bool = False) -> Finding:
    filters = {k: v for k, v in g.filters.items() if k != "protocol"}
    return Finding(f"{g.dataset} · {g.model} · {g.level.text}", filters, e.adapter, e.args, g.protocol["epochs"],
                   comparison, diff, (g.slug, other.slug), same)


_STEPS_PER_EPOCH = 10  # enough to tell schedules apart: each is a function of the step's place in its epoch


def _same_lr(a: Group, b: Group) -> bool:
    """Whether two groups' protocols set the same learning rate at every step (against their recipe)."""
    return _lr_steps(a) == _lr_steps(b)


def _lr_steps(g: Group) -> list[float] | None:
    recipe = g.key["recipe"]
    fields = {k: v for k, v in g.protocol.items() if k in ResolvedProtocol.__dataclass_fields__}
    try:
        resolved = ResolvedProtocol(**fields, recipe_epochs=recipe["epochs"], milestones=tuple(recipe["milestones"]), gamma=recipe["gamma"])
        return resolved.lr_schedule(_STEPS_PER_EPOCH)
    except (TypeError, ValueError, KeyError):  # a record from another version lacks a field: unknown
        return None


def _order(f: Finding) -> tuple:
    return f.setting, f.adapter, canonical_json(f.args), f.budget, f.comparison, f.groups


def findings(groups: list[Group]) -> Findings:
    claim1, claim2 = [], []
    for by_schedule in _cells(groups).values():
        ft = by_schedule.get("ft", [])
        for schedule in RETRAINING[1:]:
            for gs, es in by_schedule.get(schedule, []):
                for gf, ef in ft:
                    diff = difference(es.runs, ef.runs)
                    if diff is not None:  # None: every seed of one side diverged
                        same = _same_lr(gs, gf) and _lr_steps(gs) is not None
                        claim1.append(_finding(gf, ef, f"{schedule} vs ft", diff, gs, same))
        controls = [(gs, es) for s in RETRAINING for gs, es in by_schedule.get(s, []) if es.control is not None]
        if not ft or not controls or ft[0][1].adapter == "random":
            continue
        gb, eb = max(controls, key=lambda c: c[1].control.mean)  # the first schedule wins a tie
        best = gb.protocol["schedule"]
        for gf, ef in ft:
            diff = difference(eb.control_runs, ef.runs)
            if diff is not None:
                claim2.append(_finding(gf, ef, f"random + {best} vs {ef.adapter} + ft", diff, gb))
    return Findings(sorted(claim1, key=_order), sorted(claim2, key=_order))
