"""The leaderboard generator: fair grouping, ranking, sensitivity, rejection of bad files, outputs."""

from __future__ import annotations

import copy
import hashlib
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import scipy.stats

from bench.leaderboard import check, generate
from bench.leaderboard.group import BEATEN, BEATS, CONTROL, NO_CONTROL, TIED, TOO_FEW, build_groups
from bench.leaderboard.load import load_folder
from bench.leaderboard.sensitivity import kendall, sensitivity
from bench.ui.cli import main


def make(example: dict, *, adapter: str = "hrankplus", top1: float = 95.0, std: float | None = 0.5,
         control: float | None = 90.0, protocol: str = "clr-3", epochs: int = 3, ratio: float = 0.5,
         module: str | None = None, paper: str | None = None, diverged: bool = False, seeds: int | None = None,
         runs: list[float] | None = None, control_runs: list[float] | None = None, flops: float | None = None,
         config: str | None = None, kind: str | None = None, **protocol_fields) -> dict:
    """The real example record with the fields a test cares about changed (and a fresh run_id).
    `runs`/`control_runs` give every seed's top-1 (and the number of seeds); `flops` is the pruned
    arms' FLOPs as a fraction of the dense model's; `config` replaces the ratio with a named config."""
    r = copy.deepcopy(example)
    r["adapter"]["name"] = r["method"]["adapter"] = adapter
    if module is not None:
        r["adapter"]["module"] = module
    if paper is not None:
        r["adapter"]["paper"] = paper
    if kind is not None:
        r["adapter"]["kind"] = kind
    r["protocol"].update(name=protocol, epochs=epochs, **protocol_fields)
    if config is None:
        r["target"].update(ratio=ratio, description=f"ratio={ratio:g}")
    else:
        r["target"].update(ratio=None, config=config, description=f"config={config}")
    with_seeds(r, seeds or len(runs or control_runs or r["seeds"]))
    if flops is not None:
        for arm in (r["method"], r["random_control"]):
            arm["flops"] = round(flops * r["dense"]["flops"])
            arm["flops_reduction_pct"] = round(100 * (1 - arm["flops"] / r["dense"]["flops"]), 4)
    m = r["method"]
    if runs is not None:
        set_runs(m, runs)
    else:
        with_runs(m, top1, std)
    if diverged:
        m.update(diverged=True, top1_mean=None, top1_std=None, top5_mean=None)
        for run in m["runs"]:
            run.update(diverged=True, top1=None, top5=None)
    if control is None and control_runs is None:
        r["random_control"] = None
    elif control_runs is not None:
        set_runs(r["random_control"], control_runs)
    else:
        with_runs(r["random_control"], control, r["random_control"]["top1_std"])
    r["run_id"] = hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest()[:12]
    return r


def with_seeds(record: dict, n: int) -> None:
    """Seeds 0..n-1 in the record and both arms, each run copied from the example's runs in turn."""
    record["seeds"] = list(range(n))
    for arm in (record["method"], record["random_control"]):
        runs = arm["runs"]
        arm["runs"] = [dict(copy.deepcopy(runs[i % len(runs)]), seed=i) for i in range(n)]
        arm["top5_mean"] = statistics.fmean(run["top5"] for run in arm["runs"])


def set_runs(arm: dict, values: list[float]) -> None:
    """Every seed's top-1, with the mean and std they give (records must agree with their own runs)."""
    assert len(values) == len(arm["runs"])
    for run, value in zip(arm["runs"], values):
        run["top1"] = value
    arm["top1_mean"] = statistics.fmean(values)
    arm["top1_std"] = statistics.stdev(values) if len(values) > 1 else 0.0


def with_runs(arm: dict, mean: float, std: float | None) -> None:
    """Set an arm's top-1 mean and std, and per-seed results that give exactly them (records must
    agree with their own runs). With several runs the values are mean + std * z, z centred with unit
    standard deviation."""
    runs = arm["runs"]
    z = [i - (len(runs) - 1) / 2 for i in range(len(runs))]
    scale = (std or 0.0) / statistics.stdev(z) if len(runs) > 1 else 0.0
    if len(runs) > 1:
        scale = min(scale, max(100.0 - mean, 0.0) / max(z))  # accuracies stay within 100%
    set_runs(arm, [mean + scale * zi for zi in z])


def put(folder: Path, name: str, record: dict | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    return path


def groups_of(folder: Path):
    good, rejected = load_folder(folder)
    assert not rejected, rejected
    return build_groups(good)


def md_rows(markdown: str) -> list[list[str]]:
    """Every markdown table body row as its stripped cells (headers are the lines above a rule)."""
    lines = markdown.splitlines() + [""]
    body = [line for line, below in zip(lines, lines[1:])
            if line.startswith("|") and not line.startswith("|-") and not below.startswith("|-")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in body]


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def subs(tmp_path) -> Path:
    folder = tmp_path / "submissions"
    folder.mkdir()
    return folder


# --- fair grouping ---------------------------------------------------------------------------------


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


# --- comparisons, marks and order --------------------------------------------------------------------


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


def test_mean_and_std_are_shown_as_in_the_record(subs, example_record):
    put(subs, "a.json", make(example_record, top1=91.234, std=0.567))
    generate(subs, subs.parent / "lb")
    out = subs.parent / "lb"
    assert "91.23 ± 0.57" in (out / "README.md").read_text()
    (page,) = (out / "groups").glob("*.html")
    assert "91.23 ± 0.57" in page.read_text()


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


# --- protocol sensitivity ----------------------------------------------------------------------------


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


# --- outputs -----------------------------------------------------------------------------------------


def _mixed(subs: Path, example: dict) -> None:
    put(subs, "a.json", make(example, adapter="a", top1=95.0, module="bench.adapters.l1_norm"))
    put(subs, "b.json", make(example, adapter="b", top1=93.0, control=94.0))
    put(subs, "team/c.json", make(example, adapter="a", top1=91.0, protocol="ft-3", schedule="ft"))
    put(subs, "team/d.json", make(example, adapter="b", top1=92.0, protocol="ft-3", schedule="ft", control=None))
    put(subs, "e.json", make(example, adapter="e", diverged=True))


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generation_is_byte_for_byte_deterministic(subs, example_record):
    _mixed(subs, example_record)
    put(subs, "bad.json", "{not json")
    one, two = subs.parent / "one", subs.parent / "two"
    generate(subs, one)
    generate(subs, two)
    a, b = _tree(one), _tree(two)
    assert a == b
    assert {"README.md", "index.html", "leaderboard.json", "static/sortable.js", "static/style.css"} <= set(a)
    groups = [name for name in a if name.startswith("groups/")]
    assert len(groups) == 4 and sum(name.endswith(".svg") for name in groups) == 2


def test_pages_are_self_contained_and_link_sources(subs, example_record):
    _mixed(subs, example_record)
    out = subs.parent / "lb"
    generate(subs, out, source_url="https://example.org/repo/tree/v1")
    pages = [out / "index.html", *(out / "groups").glob("*.html")]
    for page in pages:
        text = page.read_text()
        assert 'static/style.css"' in text and 'static/sortable.js"' in text
        assert 'src="http' not in text and "<link rel=\"stylesheet\" href=\"http" not in text
    linked = "".join(p.read_text() for p in pages[1:])
    assert '<a href="https://example.org/repo/tree/v1/adapters/l1_norm.py">a</a>' in linked
    data = json.loads((out / "leaderboard.json").read_text())
    assert [len(g["ranked"]) for g in data["groups"]] == [2, 2] and len(data["sensitivity"]) == 1
    assert data["groups"][0]["diverged"][0]["adapter"] == "e"


def test_module_outside_bench_adapters_is_not_linked(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="mine", module="mypkg.pruner"))
    out = subs.parent / "lb"
    generate(subs, out)
    (page,) = (out / "groups").glob("*.html")
    assert "<td>mine<br>" in page.read_text()


def test_check_passes_then_detects_edits_stale_pages_and_rejections(subs, example_record, capsys):
    _mixed(subs, example_record)
    out = str(subs.parent / "lb")
    assert cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out)[0] == 0
    code, stdout, err = cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out, "--check")
    assert (code, err) == (0, "") and "up to date" in stdout

    readme = Path(out) / "README.md"
    original = readme.read_bytes()
    readme.write_bytes(original[:-2] + b"X" + original[-1:])
    code, _, err = cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out, "--check")
    assert code == 1 and err.splitlines() == [f"stale: {out}/README.md"]
    readme.write_bytes(original)

    extra = Path(out) / "groups" / "old-group-0123456789.html"
    extra.write_text("old")
    code, _, err = cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out, "--check")
    assert code == 1 and err.splitlines() == [f"stale: {out}/groups/old-group-0123456789.html (no longer generated)"]
    assert cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out)[0] == 0
    assert not extra.exists()

    bad = make(example_record, adapter="bad")
    bad["dense"]["test_top1"] = 101.0
    put(subs, "bad.json", bad)
    assert cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out)[0] == 1
    code, _, err = cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out, "--check")
    assert code == 1 and err.splitlines() == [
        f"rejected: {subs}/bad.json: dense/test_top1: 101.0 is greater than the maximum of 100"
    ]


def test_removed_submission_removes_its_group_page(subs, example_record, capsys):
    put(subs, "a.json", make(example_record))
    put(subs, "b.json", make(example_record, adapter="b", protocol="ft-3", schedule="ft"))
    out = subs.parent / "lb"
    generate(subs, out)
    assert len(list((out / "groups").iterdir())) == 4
    (subs / "b.json").unlink()
    assert check(subs, out) != []
    generate(subs, out)
    assert len(list((out / "groups").iterdir())) == 2 and check(subs, out) == []


def test_empty_submissions_give_an_empty_leaderboard(subs, capsys):
    (subs / "schema.json").write_text("{}")  # the schema is not a submission
    out = str(subs.parent / "lb")
    code, stdout, _ = cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out)
    assert code == 0 and "0 groups" in stdout
    assert "No submissions yet." in (Path(out) / "index.html").read_text()
    assert "No submissions yet." in (Path(out) / "README.md").read_text()
    assert json.loads((Path(out) / "leaderboard.json").read_text())["groups"] == []
    assert cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out, "--check")[0] == 0


def test_user_errors_exit_2(tmp_path, capsys):
    code, _, err = cli(capsys, "leaderboard", "--submissions", str(tmp_path / "nope"), "--out", str(tmp_path / "lb"))
    assert code == 2 and "does not exist" in err
    (tmp_path / "s").mkdir()
    code, _, err = cli(capsys, "leaderboard", "--submissions", str(tmp_path / "s"), "--source-url", "javascript:alert(1)",
                       "--out", str(tmp_path / "lb"))
    assert code == 2 and "--source-url" in err and len(err.splitlines()) == 1


def test_output_inside_submissions_is_not_read_back(subs, example_record, capsys):
    put(subs, "a.json", make(example_record))
    out = str(subs / "site")
    assert cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out)[0] == 0
    assert cli(capsys, "leaderboard", "--submissions", str(subs), "--out", out, "--check")[0] == 0
    code, _, err = cli(capsys, "leaderboard", "--submissions", str(subs), "--out", str(subs.parent))
    assert code == 2 and "must not be (or contain) the submissions folder" in err


# --- bad submissions ---------------------------------------------------------------------------------


def _bad_cases(example: dict) -> dict[str, tuple[str, str]]:
    """name → (file text, expected reason)"""
    schema = make(example)
    schema["method"]["top1_mean"] = 101.0
    nan_record = make(example, adapter="n")
    nan_record["method"]["top1_std"] = "__NAN__"
    nan = json.dumps(nan_record).replace('"__NAN__"', "NaN")
    script = make(example, adapter="s")
    script["adapter"]["args"]["batch_size"] = "<script>alert(1)</script>"
    return {
        "schema": (json.dumps(schema), "method/top1_mean: 101.0 is greater than the maximum of 100"),
        "nan": (nan, "method/top1_std: NaN is not allowed"),
        "invalid-json": ('{"run_id": ', "(top level): not valid JSON"),
        "script": (json.dumps(script), "adapter/args/batch_size: contains HTML/script markup: '<script>alert(1)</script>'"),
        "big": (json.dumps(make(example, adapter="b")).replace('"wall_time_seconds": 29.46', '"wall_time_seconds": 1e999'),
                "wall_time_seconds: inf is not a finite number"),
    }


@pytest.mark.parametrize("kind", ["schema", "nan", "invalid-json", "script", "big"])
def test_each_bad_submission_is_named_with_its_field_and_others_still_render(subs, example_record, capsys, kind):
    text, reason = _bad_cases(example_record)[kind]
    put(subs, "good.json", make(example_record))
    put(subs, f"bad-{kind}.json", text)  # not schema.json: that name is skipped
    out = subs.parent / "lb"
    code, stdout, err = cli(capsys, "leaderboard", "--submissions", str(subs), "--out", str(out))
    assert code == 1 and "1 groups, 1 entries, 1 rejected" in stdout
    assert err.splitlines()[0].startswith(f"rejected: {subs}/bad-{kind}.json: {reason}")
    assert len(list((out / "groups").glob("*.html"))) == 1
    rejected = json.loads((out / "leaderboard.json").read_text())["rejected"]
    assert rejected[0]["file"] == f"bad-{kind}.json" and rejected[0]["reasons"][0].startswith(reason)
    index = (out / "index.html").read_text()
    assert f"bad-{kind}.json" in index and "<script>alert" not in index


def test_duplicates_are_rejected_by_run_id_and_by_content(subs, example_record):
    record = make(example_record)
    put(subs, "a.json", record)
    put(subs, "b.json", record)
    renamed = dict(record, run_id="0123456789ab", created="2027-01-01T00:00:00Z")
    put(subs, "c.json", renamed)
    good, rejected = load_folder(subs)
    assert [s.file for s in good] == ["a.json"]
    assert [(r.file, r.reasons[0].split(" (")[0]) for r in rejected] == [
        ("b.json", "run_id: duplicate of a.json"),
        ("c.json", "(top level): duplicate of a.json"),
    ]


def test_markup_anywhere_is_rejected_but_harmless_angle_brackets_render_escaped(subs, example_record):
    deep = make(example_record, adapter="deep")
    deep["method"]["structure"]["units"]["<img src=x>"] = {"kept": 1, "total": 2}
    link = make(example_record, adapter="link", paper="see JavaScript:alert(1)")
    put(subs, "deep.json", deep)
    put(subs, "link.json", link)
    put(subs, "ok.json", make(example_record, adapter="ok", paper="Smith & Jones <2019>"))
    _, rejected = load_folder(subs)
    assert [(r.file, r.reasons[0].split(":")[0]) for r in rejected] == [
        ("deep.json", "method/structure/units/<img src=x>"), ("link.json", "adapter/paper"),
    ]
    out = subs.parent / "lb"
    generate(subs, out)
    (page,) = (out / "groups").glob("*.html")
    html = page.read_text()
    assert "Smith &amp; Jones &lt;2019&gt;" in html and "<2019>" not in html
    readme = (out / "README.md").read_text()
    assert "&lt;img src=x&gt;" in readme and "<img" not in readme
    index = (out / "index.html").read_text()
    assert "&lt;img src=x&gt;" in index and "<img src=x>" not in index


# --- boundaries --------------------------------------------------------------------------------------


def test_leaderboard_never_imports_torch_or_training_code(subs, example_record):
    put(subs, "a.json", make(example_record))
    code = f"""
import sys
import bench.leaderboard as lb
import bench.leaderboard.site, bench.leaderboard.html, bench.leaderboard.plots, bench.leaderboard.markdown
lb.generate({str(subs)!r}, {str(subs.parent / 'lb')!r})
bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'bench.api', 'bench.core.train',
             'bench.models', 'bench.pruning', 'bench.data')))
assert not bad, bad
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_group_pages_show_float_settings_readably(subs, example_record, tmp_path, capsys):
    record = make(example_record)
    record["protocol"]["lr_min"] = 0.1 * 0.1 * 0.1  # 0.0010000000000000002 in binary floating point
    put(subs, "a.json", record)
    code, _, _ = cli(capsys, "leaderboard", "--submissions", str(subs), "--out", str(tmp_path / "site"))
    (page,) = (tmp_path / "site" / "groups").glob("*.html")
    assert code == 0 and "lr_min=0.001," in page.read_text() and "0.0010000000000000002" not in page.read_text()


def test_speedup_column_appears_for_records_with_latency(subs, example_record, tmp_path, capsys):
    record = make(example_record)
    record["method"]["latency"] = {
        "batch1_ms": 1.0, "large_batch": 256, "large_batch_ms": 20.0, "throughput_images_per_s": 12800.0,
        "speedup": {"measured_speedup": 1.62, "flops_speedup": 3.07, "measured_over_flops": 0.5277},
    }
    put(subs, "a.json", record)
    put(subs, "b.json", make(example_record, adapter="l1-norm"))  # an older record without latency
    code, _, _ = cli(capsys, "leaderboard", "--submissions", str(subs), "--out", str(tmp_path / "site"))
    text = (tmp_path / "site" / "README.md").read_text()
    assert code == 0 and "speedup measured / FLOPs" in text and "1.62× / 3.07×" in text and "| —" in text


# --- the width-scaled dense model from scratch ------------------------------------------------------


def _width_scaled(example: dict, ratio: float, top1: float, digest: str = "1" * 64) -> dict:
    r = make(example, adapter="width-scaled", protocol="scratch-e", epochs=38, schedule="scratch", reinitialize=True,
             ratio=ratio, top1=top1, control=None, flops=(1 - ratio) ** 2)
    r["dense"]["weights_sha256"] = digest
    r["run_id"] = hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest()[:12]
    return r


def _with_weights(record: dict, digest: str) -> dict:
    record["dense"]["weights_sha256"] = digest
    record["run_id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    return record


def test_width_scaled_series_is_drawn_on_every_plot_of_its_dense_baseline_only(subs, example_record):
    from bench.leaderboard.group import REFERENCE, families

    put(subs, "a.json", _with_weights(make(example_record, adapter="a"), "1" * 64))
    other = make(example_record, adapter="b")  # pruned from other dense weights
    other["dense"]["run_id"] = "feedfacecafe"
    put(subs, "b.json", _with_weights(other, "2" * 64))
    for ratio, top1 in ((0.5, 96.0), (0.7, 93.0)):
        put(subs, f"w{ratio}.json", _width_scaled(example_record, ratio, top1))
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

    one = _with_weights(make(example_record, adapter="a"), "1" * 64)
    two = _with_weights(make(example_record, adapter="b"), "2" * 64)
    two["dense"]["run_id"] = "feedfacecafe"
    two["run_id"] = hashlib.sha256(json.dumps(two, sort_keys=True).encode()).hexdigest()[:12]
    put(subs, "a.json", one)
    put(subs, "b.json", two)
    titles = sorted(f.title for f in families(groups_of(subs)))
    assert len(set(titles)) == 2 and titles[1].endswith("· dense feedfacecafe")


def test_a_local_build_links_the_record_files_and_the_repository_the_sources(tmp_path, example_record):
    from tests.leaderboard.test_leaderboard import make, put

    from bench.leaderboard import generate

    put(tmp_path / "results", "a.json", make(example_record, adapter="alpha", module="bench.adapters.l1_norm"))
    generate(tmp_path / "results", tmp_path / "pages")
    page = (tmp_path / "pages" / "README.md").read_text()
    assert (tmp_path / "results" / "a.json").resolve().as_uri() in page
    assert "https://github.com/prunebench/prunebench/blob/main/adapters/l1_norm.py" in page
    exported = json.loads((tmp_path / "pages" / "leaderboard.json").read_text())
    assert exported["records_url"] == (tmp_path / "results").resolve().as_uri() + "/"
