"""The paper's two claims checked on the records (bench/leaderboard/findings.py): paired intervals, one row
per comparison, a missing side said in one line, never across budgets or levels."""

from __future__ import annotations

import pytest
import scipy.stats
from markupsafe import escape

from bench.leaderboard import generate
from bench.leaderboard.findings import FAILS, HOLDS, INCONCLUSIVE, MISSING_1, MISSING_2, SAME
from bench.leaderboard.entries import CONTROL
from bench.leaderboard.stats import PAIRED, WELCH

from tests.leaderboard.builders import CLR, FT, board_of, keyed, make, md_rows, put, put_schedules, reseed


def test_a_schedule_with_fts_learning_rate_at_every_step_is_the_same_schedule(subs, example_record):
    """LRW over the last LR phase only (3 of the example's 30 epochs) is FT: no claim either way."""
    put_schedules(subs, example_record, epochs=3)
    b = board_of(subs)
    claim1 = {f.comparison: f for f in b.findings.claim1}
    assert "lrw vs ft" not in claim1 and claim1["clr vs ft"].outcome == HOLDS  # listed once, never tested
    (same,) = b.findings.same
    assert (same.schedule, same.ft, same.comparisons) == ("lrw-3", "ft-3", 1) and SAME in same.text


def test_findings_show_both_claims_with_paired_intervals(subs, example_record):
    random_clr = [f + d for f, d in zip(FT, [0.3, 0.5, 0.2, 0.6, 0.4])]  # the best random control, above a + ft
    put_schedules(subs, example_record, controls={"clr": random_clr})
    b = board_of(subs)
    claim1 = {f.comparison: f for f in b.findings.claim1}
    assert sorted(claim1) == ["clr vs ft", "lrw vs ft", "slr vs ft"]
    assert [claim1[c].outcome for c in ("clr vs ft", "lrw vs ft", "slr vs ft")] == [HOLDS, FAILS, INCONCLUSIVE]
    expected = scipy.stats.ttest_rel(CLR, FT).confidence_interval(0.95)
    assert claim1["clr vs ft"].diff.test == PAIRED and claim1["clr vs ft"].diff.ci.low == pytest.approx(expected.low)
    (claim2,) = b.findings.claim2
    assert claim2.comparison == "random + clr vs a + ft" and claim2.outcome == HOLDS
    expected2 = scipy.stats.ttest_rel(random_clr, FT).confidence_interval(0.95)
    assert claim2.diff.ci.high == pytest.approx(expected2.high)

    out = subs.parent / "lb"
    generate(subs, out)
    readme = (out / "README.md").read_text()
    findings = readme.split("## Findings")[1].split("## digits")[0]
    rows = {(r[0].split("](")[0], r[4].split("](")[0]): r for r in md_rows(findings)}
    setting = f"[digits · resnet20 · {b.groups[0].level.text}"
    row = rows[(setting, "[clr vs ft")]
    p, adjusted = claim1["clr vs ft"].diff.p, claim1["clr vs ft"].holm
    assert row[6:] == [f"\\[{expected.low:+.2f}, {expected.high:+.2f}\\]", "paired t, n=5", f"{p:.2g} → {adjusted:.2g}",
                       "0", "**holds after Holm**"]
    row2 = rows[(setting, "[random + clr vs a + ft")]
    assert row2[6] == f"\\[{expected2.low:+.2f}, {expected2.high:+.2f}\\]" and row2[-1] == "**holds after Holm**"
    assert "Of 3 tests: holds in 1 (1 after Holm), does not hold in 1 (1 after Holm), inconclusive in 1." in findings
    index = (out / "index.html").read_text()
    assert index.count('class="claim"') == 2 and f"{expected.low:+.2f}" in index and f"{expected2.low:+.2f}" in index
    assert MISSING_1 not in readme + index and MISSING_2 not in readme + index


def test_findings_pair_by_seed_index_or_say_welch(subs, example_record):
    put(subs, "ft.json", make(example_record, adapter="a", runs=FT, protocol="ft-3", schedule="ft"))
    put(subs, "clr.json", reseed(make(example_record, adapter="a", runs=CLR, protocol="clr-3", schedule="clr"), 10))
    (row,) = board_of(subs).findings.claim1
    expected = scipy.stats.ttest_ind(CLR, FT, equal_var=False).confidence_interval(0.95)
    assert row.diff.test == WELCH and row.diff.ci.low == pytest.approx(expected.low)
    generate(subs, subs.parent / "lb")
    assert "Welch t, n=10" in (subs.parent / "lb" / "README.md").read_text()


def test_findings_say_in_one_line_when_records_are_missing(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a", protocol="clr-3", schedule="clr"))
    out = subs.parent / "lb"
    generate(subs, out)
    readme = (out / "README.md").read_text()
    findings = readme.split("## Findings")[1].split("## digits")[0]
    assert findings.count(MISSING_1) == 1 and findings.count(MISSING_2) == 1 and not md_rows(findings)
    index = (out / "index.html").read_text()
    assert index.count(escape(MISSING_1)) == 1 and index.count(escape(MISSING_2)) == 1


def test_different_budgets_or_levels_are_never_findings(subs, example_record):
    put(subs, "ft.json", make(example_record, adapter="a", runs=FT, protocol="ft-3", schedule="ft"))
    put(subs, "clr6.json", make(example_record, adapter="a", runs=CLR, protocol="clr-6", epochs=6, schedule="clr"))
    put(subs, "clr8.json", make(example_record, adapter="a", runs=CLR, ratio=0.8, flops=0.2, schedule="clr"))
    b = board_of(subs)
    assert b.findings.claim1 == [] and b.findings.claim2 == []  # random + CLR at the same budget and level only


def test_a_record_made_of_another_records_control_counts_once_as_that_control(subs, example_record):
    controls = {"ft": [r - 3 for r in FT], "clr": [r - 1 for r in FT]}
    for schedule in ("ft", "clr"):
        common = {"protocol": f"{schedule}-3", "schedule": schedule}
        runs = FT if schedule == "ft" else [r + 1 for r in FT]
        put(subs, f"m-{schedule}.json", keyed(make(example_record, adapter="m", runs=runs, control_runs=controls[schedule],
                                                   **common), f"m-{schedule}", f"ctl-{schedule}"))
        # the random adapter reusing m's control runs as its own method runs (and a control of its own)
        put(subs, f"r-{schedule}.json", keyed(make(example_record, adapter="random", runs=controls[schedule],
                                                   control_runs=controls[schedule], **common),
                                              f"ctl-{schedule}", f"other-{schedule}"))
    b = board_of(subs)
    assert {e.status for g in b.groups for e in g.ranked if e.adapter == "random"} == {CONTROL}
    assert sorted(f.adapter for f in b.findings.claim1) == ["m", "random control of m"]
    assert [f.comparison for f in b.findings.claim2] == ["random + clr vs m + ft"]  # never the random adapter as a method


def test_claim_2_is_random_with_clr_even_when_another_schedule_does_better(subs, example_record):
    controls = {"ft": [r - 3 for r in FT], "slr": [r + 2 for r in FT], "clr": [r - 1 for r in FT]}
    for schedule, control in controls.items():
        put(subs, f"{schedule}.json", make(example_record, adapter="a", runs=FT, control_runs=control,
                                           protocol=f"{schedule}-20", epochs=20, schedule=schedule))
    (row,) = board_of(subs).findings.claim2
    assert row.comparison == "random + clr vs a + ft" and row.diff.mean == pytest.approx(-1.0)  # not slr's +2
