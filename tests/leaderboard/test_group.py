"""Fair groups (bench/leaderboard/group.py): entries ranked only against entries with the same dataset, model,
dense baseline and protocol; the comparison with the random control paired by seed; marks, order and ties;
the allocation control; the width-scaled series of each dense baseline."""

from __future__ import annotations

import hashlib
import json

import pytest
import scipy.stats

from bench.leaderboard import generate
from bench.leaderboard.entries import BEATEN, BEATS, CONTROL, NO_CONTROL, TIED, TOO_FEW

from tests.leaderboard.builders import (
    A,
    B,
    groups_of,
    make,
    md_rows,
    put,
    width_scaled_record,
    with_allocation,
    with_weights,
)


@pytest.mark.parametrize(
    "change",
    [
        {"protocol": "ft-3"},
        {"epochs": 5},
        {"batch_size": 128},
        {"lr_max": 0.05},
        {"reinitialize": True},
        {"version": 2},
        {"warmup_fraction": 0.2},
    ],
)
def test_different_protocols_are_never_ranked_together(subs, example_record, change):
    put(subs, "a.json", make(example_record, adapter="a"))
    put(subs, "b.json", make(example_record, adapter="b", **change))
    groups = groups_of(subs)
    assert [len(g.ranked) for g in groups] == [1, 1]
    assert len({g.slug for g in groups}) == 2


def test_same_protocol_ranks_together(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a", top1=94.0))
    put(subs, "b.json", make(example_record, adapter="b", top1=96.0))
    (group,) = groups_of(subs)
    assert [(e.rank, e.adapter) for e in group.ranked] == [(1, "b"), (2, "a")]


def test_different_dense_recipes_are_never_ranked_together(subs, example_record):
    other = make(example_record, adapter="b")
    other["dense"]["recipe"]["lr"] = 0.05
    put(subs, "a.json", make(example_record, adapter="a"))
    put(subs, "b.json", other)
    assert [len(g.ranked) for g in groups_of(subs)] == [1, 1]


def test_entries_pruned_from_different_dense_weights_are_never_ranked_together(subs, example_record):
    same = [make(example_record, adapter=name) for name in ("a", "b")]
    other = make(example_record, adapter="c")
    for record, digest in zip(same + [other], ["1" * 64, "1" * 64, "2" * 64]):
        record["dense"]["weights_sha256"] = digest
        record["run_id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    for i, record in enumerate(same + [other]):
        put(subs, f"{i}.json", record)
    assert sorted(len(g.ranked) for g in groups_of(subs)) == [1, 2]


def test_scratch_b_groups_across_epochs_and_shows_them(subs, example_record):
    for name, epochs, ratio in (("a", 60, 2.0), ("b", 90, 3.0)):
        put(subs, f"{name}.json", make(example_record, adapter=name, protocol="scratch-b", epochs=epochs,
                                       schedule="scratch", reinitialize=True, flops_ratio=ratio))
    (group,) = groups_of(subs)
    assert sorted(e.epochs for e in group.ranked) == [60, 90]
    site = generate(subs, subs.parent / "lb")
    page = (subs.parent / "lb" / "groups" / f"{group.slug}.html").read_text()
    assert "<th scope=\"col\">epochs</th>" in page and site.groups[0].flops_budget


def test_delta_random_comes_from_the_same_record_paired_by_seed(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a", runs=[95.0, 96.0, 94.0], control_runs=[90.0, 91.5, 88.5]))
    put(subs, "b.json", make(example_record, adapter="b", runs=[93.0, 93.0, 93.0], control_runs=[96.0, 94.0, 92.0]))
    (group,) = groups_of(subs)
    by = {e.adapter: e for e in group.ranked}
    # a: per-seed differences 5.0, 4.5, 5.5; b: -3, -1, +1 (a mean of -1 that the seeds do not support)
    assert by["a"].delta_random == pytest.approx(5.0) and by["a"].status == BEATS
    assert by["b"].delta_random == pytest.approx(-1.0) and by["b"].status == TIED
    assert by["a"].delta_dense == pytest.approx(95.0 - example_record["dense"]["test_top1"])
    ci = scipy.stats.ttest_rel([95.0, 96.0, 94.0], [90.0, 91.5, 88.5]).confidence_interval(0.95)
    generate(subs, subs.parent / "lb")
    rows = {row[1]: row for row in md_rows((subs.parent / "lb" / "README.md").read_text())}
    assert rows["a"][-4] == f"+5.00 \\[{ci.low:+.2f}, {ci.high:+.2f}\\]"
    assert rows["a"][-2] == "**beats its random control, holds after Holm**"
    assert rows["b"][-4].startswith("-1.00 \\[") and rows["b"][-2] == "tied"


def test_control_marks_and_order(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a", runs=[95.0, 95.5], control_runs=[90.0, 90.4]))
    put(subs, "b.json", make(example_record, adapter="b", runs=[93.0, 93.2], control_runs=[94.0, 94.1]))
    put(subs, "c.json", make(example_record, adapter="c", top1=99.0, control=None))
    put(subs, "d.json", make(example_record, adapter="random", top1=98.0, control=97.0))
    put(subs, "e.json", make(example_record, adapter="e", diverged=True))
    put(subs, "f.json", make(example_record, adapter="f", runs=[92.0], control_runs=[91.0]))
    (group,) = groups_of(subs)
    # ranked by accuracy alone: an entry without a control is marked, not demoted
    assert [(e.rank, e.adapter, e.status) for e in group.ranked] == [
        (1, "c", NO_CONTROL), (2, "random", CONTROL), (3, "a", BEATS), (4, "b", BEATEN), (5, "f", TOO_FEW),
    ]
    assert [e.adapter for e in group.diverged] == ["e"] and group.diverged[0].rank is None
    site = generate(subs, subs.parent / "lb")
    page = (subs.parent / "lb" / "groups" / f"{site.groups[0].slug}.html").read_text()
    ranking, diverged = page.split('id="ranking"')[1].split('id="diverged"')
    assert ">no control<" in ranking and ">control<" in ranking and ">n too small<" in ranking
    assert '<td class="good">beats its random control, holds after Holm</td>' in ranking
    assert '<td class="bad">beaten by random, holds after Holm</td>' in ranking
    assert "e<br>" not in ranking and ">e" in diverged


def test_ties_break_by_adapter_then_run_id(subs, example_record):
    put(subs, "z.json", make(example_record, adapter="b", top1=95.0, std=0.1))
    put(subs, "y.json", make(example_record, adapter="a", top1=95.0, std=0.2))
    put(subs, "x.json", make(example_record, adapter="a", top1=95.0, std=0.3))
    (group,) = groups_of(subs)
    order = [(e.adapter, e.run_id) for e in group.ranked]
    assert order == sorted(order)


def test_width_scaled_series_is_drawn_on_every_plot_of_its_dense_baseline_only(subs, example_record):
    from bench.leaderboard.entries import REFERENCE
    from bench.leaderboard.group import families

    put(subs, "a.json", with_weights(make(example_record, adapter="a"), "1" * 64))
    other = make(example_record, adapter="b")  # pruned from other dense weights
    other["dense"]["run_id"] = "feedfacecafe"
    put(subs, "b.json", with_weights(other, "2" * 64))
    for ratio, top1 in ((0.5, 96.0), (0.7, 93.0)):
        put(subs, f"w{ratio}.json", width_scaled_record(example_record, ratio, top1))
    groups = groups_of(subs)
    by_title = {f.title: f for f in families(groups)}
    series = {t: [(p, e.target) for p, e in f.width_scaled] for t, f in by_title.items()}
    same = [t for t in series if "clr-3" in t and "dense" in t and series[t]]
    assert len(same) == 1 and series[same[0]] == [("scratch-e (v1)", "ratio=0.7"), ("scratch-e (v1)", "ratio=0.5")]
    assert sum(1 for t in series if "clr-3" in t) == 2  # the other dense baseline's family: no series
    assert not any(series[t] for t in series if "clr-3" in t and t != same[0])
    # the scratch family draws its own entries as the series, not as methods, and ranks them as references
    scratch = next(f for f in by_title.values() if "scratch-e" in f.title)
    assert scratch.methods == [] and len(scratch.width_scaled) == 2
    assert {e.status for e in scratch.entries} == {REFERENCE}

    generate(subs, subs.parent / "lb")
    svgs = {f.slug: (subs.parent / "lb" / "groups" / f"{f.slug}.svg").read_text() for f in by_title.values()}
    drawn = {f.title for f in by_title.values() if 'id="width-scaled-0"' in svgs[f.slug]}
    assert drawn == {same[0], scratch.title}
    readme = (subs.parent / "lb" / "README.md").read_text()
    assert "from-scratch reference" in readme


def test_families_sharing_a_title_are_told_apart_by_their_dense_run(subs, example_record):
    from bench.leaderboard.group import families

    one = with_weights(make(example_record, adapter="a"), "1" * 64)
    two = with_weights(make(example_record, adapter="b"), "2" * 64)
    two["dense"]["run_id"] = "feedfacecafe"
    two["run_id"] = hashlib.sha256(json.dumps(two, sort_keys=True).encode()).hexdigest()[:12]
    put(subs, "a.json", one)
    put(subs, "b.json", two)
    titles = sorted(f.title for f in families(groups_of(subs)))
    assert len(set(titles)) == 2 and titles[1].endswith("· dense feedfacecafe")


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
