"""Protocol sensitivity (bench/leaderboard/sensitivity.py): the same adapters under several protocols, with
Kendall's tau between the rankings, one table per level."""

from __future__ import annotations

import pytest

from bench.leaderboard import generate
from bench.leaderboard.sensitivity import kendall, sensitivity

from tests.leaderboard.builders import groups_of, make, put


def test_kendall_tau_hand_cases():
    assert kendall([95.0, 94.0, 93.0], [90.0, 91.0, 92.0]) == pytest.approx(-1.0)
    assert kendall([1.0, 2.0, 3.0], [10.0, 20.0, 30.0]) == pytest.approx(1.0)
    # pairs: (a,b) concordant, (a,c) discordant, (b,c) concordant → (2 - 1) / 3
    assert kendall([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(1 / 3)
    assert kendall([1.0], [2.0]) is None


def test_sensitivity_table_and_reversed_ranking(subs, example_record):
    for name, clr, ft in (("a", 95.0, 90.0), ("b", 94.0, 91.0), ("c", 93.0, 92.0)):
        put(subs, f"{name}-clr.json", make(example_record, adapter=name, top1=clr))
        put(subs, f"{name}-ft.json", make(example_record, adapter=name, top1=ft, protocol="ft-3", schedule="ft"))
    put(subs, "d-ft.json", make(example_record, adapter="d", top1=80.0, protocol="ft-3", schedule="ft"))
    put(subs, "a-lrw.json", make(example_record, adapter="a", top1=70.0, protocol="lrw-3", schedule="lrw"))
    (table,) = sensitivity(groups_of(subs))
    assert table.protocols == ["clr-3", "ft-3", "lrw-3"] and table.adapters == ["a", "b", "c", "d"]
    assert [c.mean for c in table.cells[3]] == [None, 80.0, None]
    taus = {(t.first, t.second): (t.tau, t.common) for t in table.taus}
    assert taus[("clr-3", "ft-3")] == (pytest.approx(-1.0), 3)
    assert taus[("clr-3", "lrw-3")] == (None, 1)
    generate(subs, subs.parent / "lb")
    index = (subs.parent / "lb" / "index.html").read_text()
    assert "Protocol sensitivity" in index and "-1.00" in index and "n/a" in index


def test_no_sensitivity_table_without_shared_adapters(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a"))
    put(subs, "b.json", make(example_record, adapter="b", protocol="ft-3", schedule="ft"))
    assert sensitivity(groups_of(subs)) == []


def test_sensitivity_tables_are_per_level_and_count_their_adapters(subs, example_record):
    for ratio in (0.5, 0.8):
        for name, clr, ft in (("a", 95.0, 90.0), ("b", 94.0, 91.0), ("c", 93.0, 92.0)):
            if ratio == 0.8 and name == "c":
                continue
            level = {"ratio": ratio, "flops": 1 - ratio}
            put(subs, f"{name}-{ratio}-clr.json", make(example_record, adapter=name, top1=clr - ratio, **level))
            put(subs, f"{name}-{ratio}-ft.json", make(example_record, adapter=name, top1=ft - ratio, **level,
                                                       protocol="ft-3", schedule="ft"))
    tables = {t.title.split(" · ")[-1]: t for t in sensitivity(groups_of(subs))}
    assert sorted(tables) == ["2.0× FLOPs (structured)", "5.0× FLOPs (structured)"]
    assert tables["2.0× FLOPs (structured)"].adapters == ["a", "b", "c"]
    assert [(t.tau, t.common) for t in tables["2.0× FLOPs (structured)"].taus] == [(pytest.approx(-1.0), 3)]
    assert [(t.tau, t.common) for t in tables["5.0× FLOPs (structured)"].taus] == [(pytest.approx(-1.0), 2)]
    generate(subs, subs.parent / "lb")
    assert "adapters it rests on" in (subs.parent / "lb" / "README.md").read_text()
