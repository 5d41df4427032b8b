"""The leaderboard's statistics: intervals, verdicts, compression levels, the paper's findings and views."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import scipy.stats
from markupsafe import escape

from bench.leaderboard import generate
from bench.leaderboard.board import build
from bench.leaderboard.findings import FAILS, HOLDS, INCONCLUSIVE, MISSING_1, MISSING_2, SAME
from bench.leaderboard.group import BEATEN, BEATS, TIED, TOO_FEW
from bench.leaderboard.load import load_folder
from bench.leaderboard.sensitivity import sensitivity
from bench.leaderboard.stats import PAIRED, WELCH, difference, summary

from tests.leaderboard.test_leaderboard import groups_of, make, md_rows, put


A = [95.0, 96.5, 94.0, 97.0, 95.5]
B = [93.0, 95.5, 93.5, 95.0, 94.0]


@pytest.fixture
def subs(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    return folder


def board_of(folder):
    good, rejected = load_folder(folder)
    assert not rejected, rejected
    return build(good, rejected)


def reseed(record: dict, first: int) -> dict:
    """The record's seeds renumbered from `first` (a record whose seeds another does not share)."""
    record["seeds"] = [first + i for i in range(len(record["seeds"]))]
    for arm in (record["method"], record["random_control"]):
        for seed, run in zip(record["seeds"], arm["runs"]):
            run["seed"] = seed
    record["run_id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    return record


# --- intervals ---------------------------------------------------------------------------------------


def test_paired_interval_is_scipys_paired_t_interval_matched_by_seed():
    expected = scipy.stats.ttest_rel(A, B).confidence_interval(0.95)
    diffs = [a - b for a, b in zip(A, B)]
    sem = scipy.stats.sem(diffs)
    half = scipy.stats.t.ppf(0.975, len(diffs) - 1) * sem  # by hand: mean ± t(0.975, n-1) · s / √n
    # b's seeds listed in another order: pairing goes by seed number, not by position
    d = difference(dict(enumerate(A)), {s: B[s] for s in (3, 1, 4, 0, 2)})
    assert (d.test, d.n) == (PAIRED, 5)
    assert d.mean == pytest.approx(sum(diffs) / 5)
    assert (d.ci.low, d.ci.high) == (pytest.approx(expected.low), pytest.approx(expected.high))
    assert (d.ci.low, d.ci.high) == (pytest.approx(d.mean - half), pytest.approx(d.mean + half))
    welch = scipy.stats.ttest_ind(A, B, equal_var=False).confidence_interval(0.95)
    assert not math.isclose(d.ci.low, welch.low, rel_tol=1e-3)  # the test can tell pairing from Welch


def test_seeds_that_do_not_match_fall_back_to_welch():
    d = difference(dict(enumerate(A)), {10 + i: b for i, b in enumerate(B)})
    expected = scipy.stats.ttest_ind(A, B, equal_var=False).confidence_interval(0.95)
    assert (d.test, d.n) == (WELCH, 10)
    assert (d.ci.low, d.ci.high) == (pytest.approx(expected.low), pytest.approx(expected.high))


def test_fewer_than_two_pairs_give_no_interval():
    d = difference({0: 95.0}, {0: 90.0})
    assert (d.test, d.n, d.mean, d.ci, d.sign) == (PAIRED, 1, 5.0, None, None)
    assert difference({0: 95.0}, {}) is None


def test_mean_interval_is_the_student_t_interval():
    s = summary(A)
    low, high = scipy.stats.t.interval(0.95, len(A) - 1, loc=s.mean, scale=scipy.stats.sem(A))
    assert (s.n, s.std) == (5, pytest.approx(scipy.stats.tstd(A)))
    assert (s.ci.low, s.ci.high) == (pytest.approx(low), pytest.approx(high))
    assert summary([97.5]).ci is None and summary([]) is None


def test_equal_seeds_give_a_point_interval_without_warnings(recwarn):
    assert summary([100.0, 100.0, 100.0]).ci.low == 100.0
    d = difference({0: 99.0, 1: 98.0}, {0: 98.0, 1: 97.0})
    assert (d.ci.low, d.ci.high, d.sign) == (pytest.approx(1.0), pytest.approx(1.0), 1)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# --- verdicts ----------------------------------------------------------------------------------------


def test_verdicts_follow_the_paired_interval_not_the_means(subs, example_record):
    control = [95.2, 95.7, 94.6, 95.3, 95.1]
    tiny = [95.0, 96.1, 94.2, 95.6, 94.9]  # 0.02 below the control on average, seeds on both sides
    consistent = [c + d for c, d in zip(control, [0.5, 0.6, 0.4, 0.55, 0.45])]
    worse = [c - d for c, d in zip(control, [0.5, 0.6, 0.4, 0.55, 0.45])]
    for name, runs in (("tiny", tiny), ("consistent", consistent), ("worse", worse)):
        put(subs, f"{name}.json", make(example_record, adapter=name, runs=runs, control_runs=control))
    put(subs, "one.json", make(example_record, adapter="one", runs=[99.0], control_runs=[90.0]))
    (group,) = groups_of(subs)
    by = {e.adapter: e for e in group.ranked}
    assert by["tiny"].delta_random < 0 and by["tiny"].status == TIED  # the old rule said "beaten by random"
    assert by["consistent"].status == BEATS and by["consistent"].vs_random.ci.low > 0
    assert by["worse"].status == BEATEN and by["worse"].vs_random.ci.high < 0
    assert by["one"].status == TOO_FEW and by["one"].vs_random.ci is None
    # ranked by mean top-1 among the entries with a control, whatever the verdict
    assert [e.adapter for e in group.ranked] == ["one", "consistent", "tiny", "worse"]


def test_every_entry_shows_n_and_its_interval(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a", runs=A, control_runs=B))
    generate(subs, subs.parent / "lb")
    ci = scipy.stats.t.interval(0.95, 4, loc=sum(A) / 5, scale=scipy.stats.sem(A))
    level = groups_of(subs)[0].level.text  # the heading of the one level, however levels are titled
    (row,) = md_rows((subs.parent / "lb" / "README.md").read_text().split(f"### {level}")[1])
    assert row[6:9] == [f"{sum(A) / 5:.2f} ± {scipy.stats.tstd(A):.2f}", "5", f"\\[{ci[0]:.2f}, {ci[1]:.2f}\\]"]
    for out in ("README.md", "index.html"):
        assert "paired t interval" in (subs.parent / "lb" / out).read_text()  # the method is stated


def test_diverged_control_seeds_are_left_out_of_the_pairs(subs, example_record):
    record = make(example_record, adapter="a", runs=A, control_runs=B)
    control = record["random_control"]
    control["runs"][2].update(diverged=True, top1=None, top5=None)
    control.update(diverged=True, top1_mean=None, top1_std=None, top5_mean=None)
    put(subs, "a.json", record)
    ((e,),) = [g.ranked for g in groups_of(subs)]
    kept = [0, 1, 3, 4]
    expected = scipy.stats.ttest_rel([A[s] for s in kept], [B[s] for s in kept]).confidence_interval(0.95)
    assert e.vs_random.n == 4 and e.vs_random.ci.low == pytest.approx(expected.low)


# --- compression levels ------------------------------------------------------------------------------


def test_two_levels_are_never_ranked_together_but_share_the_pareto_plot(subs, example_record):
    light = make(example_record, adapter="a", ratio=0.5, flops=0.5)
    heavy = make(example_record, adapter="b", ratio=0.8, flops=0.2)
    put(subs, "a.json", light)
    put(subs, "b.json", heavy)
    groups = groups_of(subs)
    assert sorted([e.target for e in g.ranked] for g in groups) == [["ratio=0.5"], ["ratio=0.8"]]
    assert groups[0].family == groups[1].family
    out = subs.parent / "lb"
    generate(subs, out)
    pareto = (out / "groups" / f"{groups[0].family}.svg").read_text()
    for record in (light, heavy):
        assert f'id="mean-{record["run_id"]}"' in pareto and f'id="control-{record["run_id"]}"' in pareto
    for g in groups:
        page = (out / "groups" / f"{g.slug}.html").read_text()
        assert f'src="{g.family}.svg"' in page
        assert page.split('id="ranking"')[1].split("</table>")[0].count("<tr>") == 2  # the header and one entry


@pytest.mark.parametrize("gap, levels", [(0.004, 1), (0.02, 2)])
def test_different_targets_share_a_level_only_within_the_flops_tolerance(subs, example_record, gap, levels):
    put(subs, "a.json", make(example_record, adapter="a", ratio=0.5, flops=0.5))
    put(subs, "b.json", make(example_record, adapter="b", config="half", flops=0.5 + gap))
    groups = groups_of(subs)
    assert len(groups) == levels
    if levels == 1:
        assert groups[0].level.label == "2.0× FLOPs" and len(groups[0].ranked) == 2
        assert groups[0].level.targets == ("config=half", "ratio=0.5")


def test_one_ratio_at_different_costs_is_different_levels(subs, example_record):
    """Layouts turn one nominal ratio into different networks: a level is a cost, not a target."""
    put(subs, "a.json", make(example_record, adapter="a", ratio=0.7, flops=0.28))
    put(subs, "b.json", make(example_record, adapter="b", ratio=0.7, flops=0.14))
    groups = groups_of(subs)
    assert sorted(g.level.label for g in groups) == ["3.6× FLOPs", "7.1× FLOPs"]
    assert all(len(g.ranked) == 1 for g in groups)


def test_a_level_of_speedup_targets_is_titled_by_the_speedup_asked(subs, example_record):
    for name, flops in (("a", 1 / 3), ("b", 1 / 3 + 0.004)):
        record = make(example_record, adapter=name, flops=flops)
        record["target"].update(ratio=None, speedup=3, description="speedup=3")
        put(subs, f"{name}.json", record)
    (group,) = groups_of(subs)
    assert group.level.label == "3× FLOPs" and group.level.text == "3× FLOPs (structured)"


def test_unstructured_levels_match_on_parameters(subs, example_record):
    for name, params in (("a", 0.1), ("b", 0.1 + 0.02), ("c", 0.1 + 0.005)):
        record = make(example_record, adapter=name, ratio=0.9, kind="unstructured")
        for arm in (record["method"], record["random_control"]):
            arm["params"] = round(params * record["dense"]["params"])
            arm["params_reduction_pct"] = round(100 * (1 - arm["params"] / record["dense"]["params"]), 4)
        put(subs, f"{name}.json", record)
    assert sorted(len(g.ranked) for g in groups_of(subs)) == [1, 2]


def test_structured_and_unstructured_entries_are_different_levels(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a", ratio=0.5, flops=0.5))
    put(subs, "b.json", make(example_record, adapter="b", ratio=0.5, flops=0.5, kind="unstructured"))
    assert sorted(g.level.kind for g in groups_of(subs)) == ["structured", "unstructured"]


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


# --- findings ----------------------------------------------------------------------------------------

FT = [94.0, 94.6, 93.8, 94.4, 94.2]
CLR = [f + d for f, d in zip(FT, [0.9, 1.1, 0.8, 1.2, 1.0])]  # better on every seed
LRW = [f - d for f, d in zip(FT, [0.9, 1.1, 0.8, 1.2, 1.0])]  # worse on every seed
SLR = [f + d for f, d in zip(FT, [0.5, -0.6, 0.3, -0.4, 0.1])]  # no consistent difference


def _schedules(subs, example, adapter="a", controls=None, epochs=20, **fields):
    """One record per schedule at the same budget: 20 of the example's 30 recipe epochs, so that LRW
    replays two LR phases and differs from FT (a budget within the last phase would make them equal)."""
    controls = controls or {}
    for schedule, runs in (("ft", FT), ("clr", CLR), ("lrw", LRW), ("slr", SLR)):
        put(subs, f"{adapter}-{schedule}.json", make(
            example, adapter=adapter, runs=runs, control_runs=controls.get(schedule, [r - 3 for r in runs]),
            protocol=f"{schedule}-{epochs}", epochs=epochs, schedule=schedule, **fields))


def test_a_schedule_with_fts_learning_rate_at_every_step_is_the_same_schedule(subs, example_record):
    """LRW over the last LR phase only (3 of the example's 30 epochs) is FT: no claim either way."""
    _schedules(subs, example_record, epochs=3)
    b = board_of(subs)
    claim1 = {f.comparison: f for f in b.findings.claim1}
    assert "lrw vs ft" not in claim1 and claim1["clr vs ft"].outcome == HOLDS  # listed once, never tested
    (same,) = b.findings.same
    assert (same.schedule, same.ft, same.comparisons) == ("lrw-3", "ft-3", 1) and SAME in same.text


def test_findings_show_both_claims_with_paired_intervals(subs, example_record):
    random_clr = [f + d for f, d in zip(FT, [0.3, 0.5, 0.2, 0.6, 0.4])]  # the best random control, above a + ft
    _schedules(subs, example_record, controls={"clr": random_clr})
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


# --- budget view -------------------------------------------------------------------------------------


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


# --- cost and the allocation control -------------------------------------------------------------------


def with_allocation(record: dict, values: list[float] | None) -> dict:
    """The record with an allocation control of its own (every seed's top-1), or the random control's network."""
    if values is None:
        record["allocation_control"] = "same_as_random_control"
    else:
        arm = json.loads(json.dumps(record["random_control"]))
        arm["adapter"] = "random"
        for run, value in zip(arm["runs"], values):
            run["top1"] = value
        arm["top1_mean"] = sum(values) / len(values)
        arm["top1_std"] = float(__import__("statistics").stdev(values))
        record["allocation_control"] = arm
    record["run_id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    return record


def test_entries_show_their_cost_and_their_gap_to_each_control(subs, example_record):
    own = with_allocation(make(example_record, adapter="a", runs=A, control_runs=B, flops=0.25), [90.0, 91.0, 89.5, 92.0, 90.5])
    same = with_allocation(make(example_record, adapter="b", runs=B, control_runs=A, flops=0.25), None)
    put(subs, "a.json", own)
    put(subs, "b.json", same)
    (group,) = groups_of(subs)
    by = {e.adapter: e for e in group.ranked}
    expected = scipy.stats.ttest_rel(A, [90.0, 91.0, 89.5, 92.0, 90.5]).confidence_interval(0.95)
    assert by["a"].vs_allocation.ci.low == pytest.approx(expected.low)
    assert by["b"].allocation == "same as random control" and by["b"].vs_allocation == by["b"].vs_random
    assert by["a"].flops_speedup == pytest.approx(4.0, rel=1e-3)
    generate(subs, subs.parent / "lb")
    text = (subs.parent / "lb" / "README.md").read_text()
    assert "Δ allocation control, paired \\[95% CI\\]" in text and "= its random control" in text
    assert "FLOPs speed-up" in text and "4.00×" in text and "(25.00% kept)" in text
    exported = json.loads((subs.parent / "lb" / "leaderboard.json").read_text())
    (entry,) = [e for g in exported["groups"] for e in g["ranked"] if e["adapter"] == "a"]
    assert entry["allocation"] == "own" and entry["vs_allocation"]["n"] == 5


def test_an_allocation_control_at_another_cost_is_rejected(subs, example_record):
    record = with_allocation(make(example_record, adapter="a", runs=A, control_runs=B, flops=0.25), list(A))
    record["allocation_control"]["flops"] = round(0.3 * record["dense"]["flops"])
    put(subs, "a.json", record)
    good, rejected = load_folder(subs)
    assert not good and "allocation_control/flops" in " ".join(rejected[0].reasons)
