"""The plots (bench/leaderboard/plots.py): deterministic SVG, the Pareto front of each family, a series per
schedule of each budget view."""

from __future__ import annotations

from bench.leaderboard import plots

from tests.leaderboard.builders import board_of, make, put


def test_the_front_keeps_the_points_nothing_cheaper_beats():
    points = [(50.0, 90.0), (20.0, 85.0), (30.0, 84.0), (30.0, 88.0), (60.0, 89.0), (10.0, 80.0)]
    assert plots.front(points) == [(10.0, 80.0), (20.0, 85.0), (30.0, 88.0), (50.0, 90.0)]
    assert plots.front([]) == []


def test_svgs_are_the_same_bytes_for_the_same_records(subs, example_record):
    for name, epochs in (("ft3", 3), ("ft6", 6)):
        put(subs, f"{name}.json", make(example_record, adapter="a", protocol=f"ft-{epochs}", epochs=epochs, schedule="ft"))
    b = board_of(subs)
    (family, *_) = b.families
    (view,) = b.budgets
    first, again = plots.pareto_svg(family), plots.pareto_svg(board_of(subs).families[0])
    assert first == again and first.startswith("<?xml") and "log scale" in first
    assert plots.budget_svg(view) == plots.budget_svg(board_of(subs).budgets[0])
