"""Accuracy against retraining budget (bench/leaderboard/budget.py): one view per method retrained at two
or more budgets, shown on its groups' pages right after the ranking."""

from __future__ import annotations

from bench.leaderboard import generate
from bench.leaderboard.budget import budget_views

from tests.leaderboard.builders import board_of, make, put


def test_group_pages_open_with_the_ranking_then_the_plots(subs, example_record):
    for schedule in ("ft", "clr"):
        for epochs in (3, 6):
            put(subs, f"a-{schedule}-{epochs}.json", make(example_record, adapter="a", protocol=f"{schedule}-{epochs}",
                                                          epochs=epochs, schedule=schedule))
    put(subs, "b.json", make(example_record, adapter="b", protocol="ft-3", schedule="ft"))  # one budget: no view
    b = board_of(subs)
    (view,) = b.budgets
    assert view.adapter == "a" and [(p.schedule, p.epochs) for p in view.points] == [
        ("ft", 3), ("ft", 6), ("clr", 3), ("clr", 6)]
    assert len(view.groups) == 4
    out = subs.parent / "lb"
    generate(subs, out)
    assert (out / "groups" / f"{view.slug}.svg").read_text().startswith("<?xml")
    for g in b.groups:
        page = (out / "groups" / f"{g.slug}.html").read_text()
        assert page.split("<h2>")[1].startswith("Ranking")  # the answer first
        plots = page.split('id="ranking"')[1].split("<h2>")[0]  # right below the ranking table
        assert f'src="{g.family}.svg"' in plots and f'src="{view.slug}.svg"' in plots


def test_a_view_needs_two_budgets_of_one_method_at_one_level(subs, example_record):
    put(subs, "ft3.json", make(example_record, adapter="a", protocol="ft-3", schedule="ft"))
    put(subs, "clr3.json", make(example_record, adapter="a", protocol="clr-3", schedule="clr"))
    assert budget_views(board_of(subs).groups) == []  # two schedules, one budget: nothing to plot
    put(subs, "ft6.json", make(example_record, adapter="a", protocol="ft-6", epochs=6, schedule="ft"))
    put(subs, "scratch.json", make(example_record, adapter="a", protocol="scratch-b", epochs=60, schedule="scratch",
                                   reinitialize=True, flops_ratio=2.0))  # no budget in epochs: never in a view
    (view,) = budget_views(board_of(subs).groups)
    assert [(p.schedule, p.epochs) for p in view.points] == [("ft", 3), ("ft", 6), ("clr", 3)]
    assert view.adapter == "a" and len(view.groups) == 3 and view.title.startswith("a · digits · resnet20 · ")
