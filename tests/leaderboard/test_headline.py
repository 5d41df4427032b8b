"""The answer the pages open with (bench/leaderboard/headline.py), computed from the evidence, and the
collapsed runs it counts."""

from __future__ import annotations

import pytest

from bench.leaderboard import generate, headline

from tests.leaderboard.builders import FT, board_of, make, put


def test_collapsed_runs_stay_in_the_mean_and_show_beside_their_entry_everywhere(subs, example_record):
    # an old record without the field: the loader applies the rule to its runs
    put(subs, "a.json", make(example_record, adapter="a", runs=[97.0, 10.0, 98.0], control_runs=[96.0, 95.5, 96.5]))
    b = board_of(subs)
    (e,) = b.groups[0].ranked
    assert e.collapsed == {1: 10.0} and e.control_collapsed == {}
    assert headline.collapsed_runs(b.groups) == [headline.Collapsed("a.json", "method", 1, 10.0)]
    assert e.top1.mean == pytest.approx((97.0 + 10.0 + 98.0) / 3)  # never dropped
    out = subs.parent / "lb"
    generate(subs, out)
    readme = (out / "README.md").read_text()
    assert "⚠ seed 1 (10.00%)" in readme and "a.json: method, seed 1, top-1 10.00%" in readme
    assert "1 run in 1 record collapsed" in readme.split("\n\n")[1]
    (page,) = (out / "groups").glob("*.html")
    assert "⚠ seed 1 (10.00%)" in page.read_text().split('id="ranking"')[1].split("</table>")[0]
    assert "<th scope=\"col\">collapsed runs</th>" in (out / "index.html").read_text()


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


def test_shares_of_a_count_read_as_words():
    assert [headline._share(k, 10) for k in (10, 0, 7, 5, 4, 2)] == [
        "all", "none of the", "most", "about half of the", "about half of the", "some"]
    assert headline._n(1, "run") == "1 run" and headline._n(2, "run") == "2 runs"
