"""Everything the outputs show, computed once from the good submissions and shared by the renderers."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.leaderboard import headline, verdicts
from bench.leaderboard.budget import BudgetView, budget_views
from bench.leaderboard.findings import Findings, findings
from bench.leaderboard.group import Family, Group, build_groups, families
from bench.leaderboard.load import Rejection, Submission
from bench.leaderboard.sensitivity import Table, sensitivity
from bench.leaderboard.verdicts import Correction, Power


@dataclass(frozen=True)
class Board:
    groups: list[Group]
    families: list[Family]
    budgets: list[BudgetView]
    findings: Findings
    sensitivity: list[Table]
    rejected: list[Rejection]
    same: dict[str, str] = field(default_factory=dict)  # group slug → the group whose schedule it is
    power: dict[str, Power] = field(default_factory=dict)  # group slug → its table's power and saturation
    corrections: list[Correction] = field(default_factory=list)  # families (a), (b), (c)
    summary: list[str] = field(default_factory=list)  # the plain-language answer, sentence by sentence

    def budgets_of(self, g: Group) -> list[BudgetView]:
        return [v for v in self.budgets if g.slug in v.groups]

    def same_as(self, g: Group) -> Group | None:
        """The group whose schedule `g`'s is under another name (where its tests are), if any."""
        slug = self.same.get(g.slug)
        return next((h for h in self.groups if h.slug == slug), None)


def build(good: list[Submission], rejected: list[Rejection]) -> Board:
    built = build_groups(good)
    same = verdicts.same_schedules(built, {sub.file: sub.record for sub in good})
    groups, family_a = verdicts.correct(built, same)
    found = findings(groups, same)
    corrections = [family_a] + [
        verdicts.correction(name, [(f.diff.sign, f.holm) for f in rows if f.diff.p is not None])
        for name, rows in (("(b) claim 1", found.claim1), ("(c) claim 2", found.claim2))]
    power = {g.slug: p for g in groups if g.slug not in same and (p := verdicts.power(g)) is not None}
    return Board(groups, families(groups), budget_views(groups), found, sensitivity(groups), rejected, same, power,
                 corrections, headline.summary(groups, found, same, power))
