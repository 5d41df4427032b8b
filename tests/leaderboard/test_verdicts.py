"""Verdicts a reviewer would accept (bench/leaderboard/verdicts.py): Holm's correction over each family of
tests, each comparison tested once (a schedule that is another's is published once; identical arms are not
tested), and a table within its detectable difference called saturated."""

from __future__ import annotations

import pytest

from bench.leaderboard import generate, verdicts
from bench.leaderboard.entries import BEATS, IDENTICAL, SAME_SCHEDULE
from bench.leaderboard.stats import holm

from tests.leaderboard.builders import FT, board_of, keyed, make, md_rows, put


# --- Holm and the families -------------------------------------------------------------------------


def test_family_a_spans_the_leaderboard_and_pages_say_which_verdicts_hold(subs, example_record):
    control = [90.0, 90.5, 89.8, 90.2, 90.1]
    strong = [c + d for c, d in zip(control, [5.0, 5.1, 4.9, 5.05, 4.95])]  # survives any correction
    weak = [c + d for c, d in zip(control, [0.9, 0.0, 1.1, 0.2, 1.0])]  # p ≈ 0.047: not after Holm
    put(subs, "s.json", make(example_record, adapter="strong", runs=strong, control_runs=control))
    put(subs, "w.json", make(example_record, adapter="weak", runs=weak, control_runs=control, ratio=0.8, flops=0.2))
    put(subs, "t.json", make(example_record, adapter="tied", runs=control, control_runs=control, ratio=0.8, flops=0.2))
    b = board_of(subs)
    by = {e.adapter: e for g in b.groups for e in g.ranked}
    raw = [by[name].vs_random.p for name in ("strong", "weak", "tied")]
    assert [by[name].holm for name in ("strong", "weak", "tied")] == pytest.approx(holm(raw))
    assert by["strong"].survives and by["weak"].status == BEATS and not by["weak"].survives
    (family_a, claim1, claim2) = b.corrections
    assert (family_a.tests, family_a.raw, family_a.holm) == (3, 2, 1) and claim1.tests == claim2.tests == 0
    out = subs.parent / "lb"
    generate(subs, out)
    rows = {r[1].split("](")[0].strip("["): r for r in md_rows((out / "README.md").read_text())}
    assert rows["strong"][-2] == "**beats its random control, holds after Holm**"
    assert rows["weak"][-2] == "beats its random control before correction only; not after Holm"
    readme = (out / "README.md").read_text()
    assert "(a) method vs its random control: 3 tests, 2 verdicts at 95% alone, 1 after Holm" in readme
    assert "family-wise error rate" in readme and "family-wise error rate" in (out / "index.html").read_text()


# --- each comparison once --------------------------------------------------------------------------


def test_a_schedule_identical_to_ft_is_published_once(subs, example_record):
    for schedule in ("ft", "lrw", "clr"):  # 3 of the example's 30 epochs: LRW replays only the last phase
        put(subs, f"{schedule}.json", make(example_record, adapter="a", runs=FT, control_runs=[r - 3 for r in FT],
                                           protocol=f"{schedule}-3", schedule=schedule))
    b = board_of(subs)
    lrw = next(g for g in b.groups if g.protocol["schedule"] == "lrw")
    assert b.same_as(lrw).protocol["schedule"] == "ft" and {e.status for e in lrw.ranked} == {SAME_SCHEDULE}
    assert b.corrections[0].tests == 2  # ft and clr against their controls; lrw is ft's test
    assert [f.comparison for f in b.findings.claim1] == ["clr vs ft"]
    out = subs.parent / "lb"
    generate(subs, out)
    readme = (out / "README.md").read_text()
    section = readme.split(f"groups/{lrw.slug}.html)")[1].split("\n## ")[0]
    assert "Same schedule as" in section and not md_rows(section)  # a pointer, not a second table
    assert readme.count("lrw-3 sets the same learning rate as ft-3 at every step") == 1
    page = (out / "groups" / f"{lrw.slug}.html").read_text()
    assert 'id="same-schedule"' in page and "holds after Holm" not in page.split('id="ranking"')[1].split("</table>")[0]


def test_identical_arms_are_not_tested(subs, example_record):
    record = keyed(make(example_record, adapter="l1-norm", runs=FT, control_runs=FT), "same", "same")
    put(subs, "a.json", record)
    b = board_of(subs)
    (e,) = b.groups[0].ranked
    assert e.status == IDENTICAL and e.vs_random is None and b.corrections[0].tests == 0


# --- ranking, bounds, power ------------------------------------------------------------------------


def test_a_table_within_its_detectable_difference_is_saturated(subs, example_record):
    control = [99.0, 99.4, 98.8, 99.2, 99.6]
    for name, shifts in (("a", [0.2, -0.3, 0.1, 0.4, -0.2]), ("b", [-0.1, 0.3, -0.4, 0.2, 0.1])):
        put(subs, f"{name}.json", make(example_record, adapter=name, control_runs=control,
                                       runs=[min(c + d, 100.0) for c, d in zip(control, shifts)]))
    b = board_of(subs)
    (g,) = b.groups
    power = b.power[g.slug]
    assert power.saturated and power.n == 5 and power.detectable > 0.3
    out = subs.parent / "lb"
    generate(subs, out)
    page = (out / "groups" / f"{g.slug}.html").read_text()
    assert f"Detectable difference: {power.detectable:.2f} points" in page and "Saturated:" in page
    assert "Saturated:" in (out / "README.md").read_text()


def test_a_correction_counts_the_verdicts_before_and_after_holm():
    tests = [(1, 0.001), (-1, 0.04), (0, 0.5), (1, 0.07), (None, None)]  # (sign of the interval, Holm-adjusted p)
    c = verdicts.correction("(b) claim 1", tests)
    assert (c.tests, c.raw, c.holm) == (5, 3, 2)
    assert c.text == "(b) claim 1: 5 tests, 3 verdicts at 95% alone, 2 after Holm"


def test_power_is_none_without_a_paired_test(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a", runs=[95.0], control_runs=[90.0]))  # one seed: no interval
    (group,) = board_of(subs).groups
    assert verdicts.power(group) is None
