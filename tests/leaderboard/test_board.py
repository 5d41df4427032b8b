"""The board (bench/leaderboard/board.py): everything the outputs show, computed once from the good
submissions and shared by the renderers."""

from __future__ import annotations

from bench.leaderboard.board import build
from bench.leaderboard.load import load_folder

from tests.leaderboard.builders import make, put


def test_a_board_links_each_group_to_its_budget_views_and_to_the_group_whose_schedule_it_is(subs, example_record):
    for schedule in ("ft", "lrw"):  # lrw-3 replays the last 3 of 30 epochs: FT's schedule under another name
        for epochs in (3, 6):
            put(subs, f"{schedule}{epochs}.json", make(example_record, adapter="a", protocol=f"{schedule}-{epochs}",
                                                       epochs=epochs, schedule=schedule))
    good, rejected = load_folder(subs)
    b = build(good, rejected)
    by = {g.protocol["name"]: g for g in b.groups}
    assert b.same_as(by["lrw-3"]) is by["ft-3"] and b.same_as(by["ft-3"]) is None
    assert all(b.budgets_of(g) for g in b.groups) and b.summary and b.rejected == []
