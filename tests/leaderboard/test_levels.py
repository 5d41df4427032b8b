"""Cost levels (bench/leaderboard/levels.py): entries share a ranked table only within a FLOPs (or parameter)
tolerance of each other, whatever target produced them."""

from __future__ import annotations

import pytest

from bench.leaderboard import generate, levels

from tests.leaderboard.builders import groups_of, make, put


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


def _record(kind: str, flops: int, params: int = 100, speedup: float | None = None, description: str = "ratio=0.5") -> dict:
    return {"adapter": {"kind": kind}, "method": {"flops": flops, "params": params}, "dense": {"flops": 1000, "params": 1000},
            "target": {"speedup": speedup, "description": description}}


def test_levels_close_when_the_next_entry_would_widen_them_past_the_tolerance():
    """1% of the dense FLOPs (10): 500, 505 and 510 are one level; 511 would make it 11 wide, so it opens the next."""
    rs = [_record("structured", f) for f in (510, 500, 511, 505, 200)] + [_record("unstructured", 500, params=100)]
    found = levels.assign(rs, baseline=lambda r: "one dense baseline")
    assert found[0] == found[1] == found[3] != found[2] != found[4]
    assert (found[1].low, found[1].high, found[1].label, found[1].kind) == (500, 510, "2.0× FLOPs", "structured")
    assert found[4].label == "5.0× FLOPs" and found[5].text == "10.0× params (unstructured)"
    other = levels.assign(rs[:2], baseline=lambda r: str(r["method"]["flops"]))  # other baselines never share a level
    assert other[0] != other[1]
    assert levels.TOLERANCE == 0.01 and f"{levels.TOLERANCE:.0%}" in levels.RULE
