"""Verdicts a reviewer would accept: run health, Holm's families, each comparison once, claim 2 fixed
in advance, clipped intervals, the detectable difference and saturation, pages that lead with the answer."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import scipy.stats

from bench.core import records
from bench.leaderboard import generate
from bench.leaderboard.board import build
from bench.leaderboard.group import BEATS, CONTROL, IDENTICAL, SAME_SCHEDULE
from bench.leaderboard.load import load_folder
from bench.leaderboard.stats import detectable, difference, holm, summary

from tests.helpers.paths import REPO
from tests.leaderboard.test_leaderboard import make, md_rows, put
from tests.leaderboard.test_stats import board_of, subs  # noqa: F401 (subs is a fixture)


FT = [94.0, 94.6, 93.8, 94.4, 94.2]


def rehash(record: dict) -> dict:
    record["run_id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    return record


def keyed(record: dict, method: str, control: str | None = None) -> dict:
    """Run keys for every seed: `method`/`control` name the runs (the same name: the same runs)."""
    for arm, name in (("method", method), ("random_control", control)):
        if name is not None:
            for run in record[arm]["runs"]:
                run["run_key"] = hashlib.sha256(f"{name}-{run['seed']}".encode()).hexdigest()[:12]
    return rehash(record)


# --- run health ------------------------------------------------------------------------------------


def test_collapsed_runs_stay_in_the_mean_and_show_beside_their_entry_everywhere(subs, example_record):
    # an old record without the field: the loader applies the rule to its runs
    put(subs, "a.json", make(example_record, adapter="a", runs=[97.0, 10.0, 98.0], control_runs=[96.0, 95.5, 96.5]))
    b = board_of(subs)
    (e,) = b.groups[0].ranked
    assert e.collapsed == {1: 10.0} and e.control_collapsed == {}
    assert e.top1.mean == pytest.approx((97.0 + 10.0 + 98.0) / 3)  # never dropped
    out = subs.parent / "lb"
    generate(subs, out)
    readme = (out / "README.md").read_text()
    assert "⚠ seed 1 (10.00%)" in readme and "a.json: method, seed 1, top-1 10.00%" in readme
    assert "1 run in 1 record collapsed" in readme.split("\n\n")[1]
    (page,) = (out / "groups").glob("*.html")
    assert "⚠ seed 1 (10.00%)" in page.read_text().split('id="ranking"')[1].split("</table>")[0]
    assert "<th scope=\"col\">collapsed runs</th>" in (out / "index.html").read_text()


# --- Holm and the families -------------------------------------------------------------------------


def test_holm_by_hand():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → 0.06 (non-decreasing)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and holm([]) == []


def test_p_values_are_scipys_t_tests():
    a, b = [95.0, 96.5, 94.0, 97.0, 95.5], [93.0, 95.5, 93.5, 95.0, 94.0]
    assert difference(dict(enumerate(a)), dict(enumerate(b))).p == pytest.approx(scipy.stats.ttest_rel(a, b).pvalue)
    welch = difference(dict(enumerate(a)), {10 + i: v for i, v in enumerate(b)})
    assert welch.p == pytest.approx(scipy.stats.ttest_ind(a, b, equal_var=False).pvalue)


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


# --- claim 2 fixed in advance ----------------------------------------------------------------------


def test_claim_2_is_random_with_clr_even_when_another_schedule_does_better(subs, example_record):
    controls = {"ft": [r - 3 for r in FT], "slr": [r + 2 for r in FT], "clr": [r - 1 for r in FT]}
    for schedule, control in controls.items():
        put(subs, f"{schedule}.json", make(example_record, adapter="a", runs=FT, control_runs=control,
                                           protocol=f"{schedule}-20", epochs=20, schedule=schedule))
    (row,) = board_of(subs).findings.claim2
    assert row.comparison == "random + clr vs a + ft" and row.diff.mean == pytest.approx(-1.0)  # not slr's +2


# --- ranking, bounds, power ------------------------------------------------------------------------


def test_intervals_of_a_percentage_stay_within_0_and_100():
    s = summary([100.0, 100.0, 96.0, 100.0])
    assert s.ci.high == 100.0 and s.ci.low < 100.0
    assert scipy.stats.t.interval(0.95, 3, loc=s.mean, scale=scipy.stats.sem([100.0, 100.0, 96.0, 100.0]))[1] > 100


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_the_detectable_difference_has_80_percent_power(n):
    sd = 0.7
    delta = detectable(sd, n)
    crit = scipy.stats.t.ppf(0.975, n - 1)
    shift = delta * math.sqrt(n) / sd
    wrong_side = scipy.stats.nct.cdf(-crit, n - 1, shift)  # negligible, and NaN in scipy that far out
    power = scipy.stats.nct.sf(crit, n - 1, shift) + (0.0 if math.isnan(wrong_side) else wrong_side)
    assert power == pytest.approx(0.8, abs=1e-6)
    # n = 5: 1.682 standard deviations; 400,000 simulated paired t tests at that shift reject 80.0% of the time
    assert detectable(1.0, 5) == pytest.approx(1.682, abs=0.001)
    assert detectable(sd, 1) is None and detectable(0.0, 5) == 0.0


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


# --- pages lead with the answer --------------------------------------------------------------------


def test_home_pages_open_with_a_computed_summary_and_the_plot_has_a_log_flops_axis(subs, example_record):
    for schedule in ("ft", "clr"):
        control = [r + d for r, d in zip(FT, [0.3, -0.4, 0.2, -0.1, 0.0])]  # tied
        put(subs, f"{schedule}.json", make(example_record, adapter="a", runs=FT, control_runs=control,
                                           protocol=f"{schedule}-20", epochs=20, schedule=schedule))
    b = board_of(subs)
    out = subs.parent / "lb"
    generate(subs, out)
    first = (out / "README.md").read_text().split("\n\n")[1]
    assert first.startswith("**In short.** On digits · resnet20, at 1 cost, all methods are tied "
                            "with random pruning under CLR: after Holm, 0 of 1 beat")
    index = (out / "index.html").read_text()
    assert index.index('id="summary"') < index.index("<h2>Groups</h2>") and b.summary[0] in index
    (svg,) = [p for p in (out / "groups").glob("pareto-*.svg") if "clr" in p.name]
    assert "log scale" in svg.read_text()


def test_the_committed_records_flag_every_collapse_and_repeat_no_schedule():
    """The reference records: every collapsed run says so, and no schedule is run twice under two names."""
    good, rejected = load_folder(REPO / "submissions")
    assert not rejected
    for sub in good:
        classes = sub.record["dataset"]["num_classes"]
        arms = [sub.record[a] for a in ("method", "random_control", "allocation_control") if isinstance(sub.record.get(a), dict)]
        for arm in arms:
            assert [run["collapsed"] for run in arm["runs"]] == [records.collapsed(run, classes) for run in arm["runs"]], sub.file
    b = build(good, rejected)
    assert not b.findings.same and not b.same  # LRW-40 is FT-40 on digits: the sweep runs it once
