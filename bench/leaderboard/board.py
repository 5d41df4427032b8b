"""Everything the outputs show, computed once from the good submissions and shared by the renderers."""

from __future__ import annotations

from dataclasses import dataclass

from bench.leaderboard.budget import BudgetView, budget_views
from bench.leaderboard.findings import Findings, findings
from bench.leaderboard.group import Family, Group, build_groups, families
from bench.leaderboard.load import Rejection, Submission
from bench.leaderboard.sensitivity import Table, sensitivity


@dataclass(frozen=True)
class Board:
    groups: list[Group]
    families: list[Family]
    budgets: list[BudgetView]
    findings: Findings
    sensitivity: list[Table]
    rejected: list[Rejection]

    def budgets_of(self, g: Group) -> list[BudgetView]:
        return [v for v in self.budgets if g.slug in v.groups]


def build(good: list[Submission], rejected: list[Rejection]) -> Board:
    groups = build_groups(good)
    return Board(groups, families(groups), budget_views(groups), findings(groups), sensitivity(groups), rejected)
