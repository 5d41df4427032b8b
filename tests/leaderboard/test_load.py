"""Reading the submissions (bench/leaderboard/load.py): every bad file set aside with its field and reason,
duplicates and markup rejected, the others still rendered."""

from __future__ import annotations

import json

import pytest

from bench.leaderboard import generate
from bench.leaderboard.load import load_folder

from tests.leaderboard.builders import A, B, make, put, with_allocation


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
        "schema": (json.dumps(schema), "method/top1_mean: must be at most 100"),
        "nan": (nan, "method/top1_std: NaN is not allowed"),
        "invalid-json": ('{"run_id": ', "(top level): not valid JSON"),
        "script": (json.dumps(script), "adapter/args/batch_size: contains HTML/script markup"),
        "big": (json.dumps(make(example, adapter="b")).replace('"wall_time_seconds": 29.46', '"wall_time_seconds": 1e999'),
                "wall_time_seconds: inf is not a finite number"),
    }


@pytest.mark.parametrize("kind", ["schema", "nan", "invalid-json", "script", "big"])
def test_each_bad_submission_is_named_with_its_field_and_others_still_render(subs, example_record, cli, kind):
    text, reason = _bad_cases(example_record)[kind]
    put(subs, "good.json", make(example_record))
    put(subs, f"bad-{kind}.json", text)  # not schema.json: that name is skipped
    out = subs.parent / "lb"
    code, stdout, err = cli("leaderboard", "--submissions", str(subs), "--out", str(out))
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
        ("deep.json", "method/structure/units/(a key)"), ("link.json", "adapter/paper"),  # a key from the file is not repeated
    ]
    out = subs.parent / "lb"
    generate(subs, out)
    (page,) = (out / "groups").glob("*.html")
    html = page.read_text()
    assert "Smith &amp; Jones &lt;2019&gt;" in html and "<2019>" not in html
    readme = (out / "README.md").read_text()
    assert "img src=x" not in readme and "<img" not in readme
    index = (out / "index.html").read_text()
    assert "img src=x" not in index


def test_an_allocation_control_at_another_cost_is_rejected(subs, example_record):
    record = with_allocation(make(example_record, adapter="a", runs=A, control_runs=B, flops=0.25), list(A))
    record["allocation_control"]["flops"] = round(0.3 * record["dense"]["flops"])
    put(subs, "a.json", record)
    good, rejected = load_folder(subs)
    assert not good and "allocation_control/flops" in " ".join(rejected[0].reasons)


def test_symbolic_links_are_rejected_by_name_and_never_followed(subs, tmp_path, example_record):
    """A submission is a file inside the folder: a link to a record (or to /etc/passwd) elsewhere, or
    to a folder of records elsewhere, is rejected by its name and its target is never read."""
    outside = tmp_path / "elsewhere"
    put(outside, "r.json", make(example_record, adapter="outside"))
    put(subs, "digits/ok.json", make(example_record, adapter="ok"))
    (subs / "digits" / "link.json").symlink_to(outside / "r.json")
    (subs / "linked-folder").symlink_to(outside, target_is_directory=True)
    good, rejected = load_folder(subs)
    assert [s.file for s in good] == ["digits/ok.json"]
    assert [r.file for r in rejected] == ["digits/link.json", "linked-folder"]
    assert all("symbolic link" in r.reasons[0] for r in rejected)


def test_a_verification_mark_is_judged_from_the_rerun_s_numbers_never_taken_from_the_file(subs, example_record):
    """A file that says "identical" earns nothing by saying it: the rerun's numbers are judged against the
    record as it is; a file without them, or for another record, marks nothing."""
    from bench.core.verification import rerun_arm

    record = make(example_record)
    record["dense"]["weights_sha256"] = "0" * 64
    put(subs, "a.json", record)
    seed = record["seeds"][0]
    rerun = {arm: rerun_arm({**record[arm], "runs": [r for r in record[arm]["runs"] if r["seed"] == seed]})
             for arm in ("method", "random_control") if record.get(arm)}
    honest = {"run_id": record["run_id"], "status": "identical", "environment": {"device": "cpu (x86_64)"}, "verifier": "CI",
              "dense": {"source": "the shipped checkpoint", "weights_sha256": record["dense"]["weights_sha256"]},
              "seeds": [seed], "rerun": rerun}
    beside = subs / "a.verification.json"

    def judged(verification: dict) -> dict | None:
        beside.write_text(json.dumps(verification))
        (good,), _ = load_folder(subs)
        return good.verification

    assert judged(honest)["status"] == "identical" and judged(honest)["verifier"] == "CI"
    forged = json.loads(json.dumps(honest))
    forged["rerun"]["method"]["runs"][0]["top1"] -= 20.0  # the rerun did not give the record's number
    assert judged(forged)["status"] == "not reproduced"  # whatever its own "status" says
    assert judged({k: v for k, v in honest.items() if k != "rerun"}) is None  # nothing to judge: no mark
    assert judged({**honest, "run_id": "0123456789ab"}) is None  # another record's
    assert judged({**honest, "verifier": "<img src=x onerror=alert(1)>"}) is None  # markup: not shown
