"""Submission records (bench/core/records.py): validation with the field named, derived fields checked against
their raw ones, writing only valid records, each run's health (the collapse rule), and fuzzed records and record
files (the atomic write itself: tests/infra/test_files.py)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from bench.core import records
from bench.errors import BenchError

from tests.helpers import fuzzing
from tests.helpers.paths import HISTORIC_RECORD
from tests.helpers.plugins import DIST, VERSION


def test_historic_example_validates(example_record):
    records.validate(example_record)


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("method", "top1_mean"), 101.0, "method/top1_mean"),
        (("method", "params"), 10**12, "method/params"),
        (("adapter", "name"), "<script>alert(1)</script>", "adapter/name"),
        (("protocol", "epochs"), 0, "protocol/epochs"),
        (("schema_version",), 2, "schema_version"),
        (("created",), "yesterday", "created"),  # a real date-time format checker (rfc3339-validator)
        (("created",), "2026-13-45T99:00:00Z", "created"),
    ],
)
def test_bad_fields_are_named(example_record, path, value, field):
    bad = copy.deepcopy(example_record)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(BenchError, match=field):
        records.validate(bad, "x.json")


def _set(record, path, value):
    node = record
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value(node[path[-1]]) if callable(value) else value


# Each a valid-looking edit of one field that its own raw fields contradict (a hand-edited record).
MUTATIONS = [
    (("method", "top1_mean"), lambda v: v + 0.1, "method/top1_mean"),
    (("method", "runs", 0, "top1"), lambda v: v - 0.5, "method/top1_mean"),
    (("method", "top1_std"), lambda v: v * 2, "method/top1_std"),
    (("method", "top5_mean"), lambda v: v - 1.0, "method/top5_mean"),
    (("random_control", "top1_mean"), lambda v: v + 1.0, "random_control/top1_mean"),
    (("method", "params_reduction_pct"), lambda v: v + 5.0, "method/params_reduction_pct"),
    (("method", "flops"), lambda v: v // 2, "method/flops_reduction_pct"),
    (("dense", "params"), lambda v: v + 10_000, "method/params_reduction_pct"),
    (("method", "runs", 1, "diverged"), True, "method/diverged"),
]


@pytest.mark.parametrize("path, change, field", MUTATIONS, ids=[m[2] + ":" + "/".join(map(str, m[0])) for m in MUTATIONS])
def test_derived_fields_that_disagree_with_their_raw_fields_are_rejected_by_name(example_record, path, change, field):
    records.validate(example_record)  # the real record agrees with itself
    bad = copy.deepcopy(example_record)
    _set(bad, path, change)
    found = records.problems(bad)
    assert any(p.startswith(field + ":") for p in found), found
    with pytest.raises(BenchError, match=field):
        records.validate(bad, "x.json")


def test_nan_in_a_file_is_rejected(tmp_path, example_record):
    path = tmp_path / "r.json"
    record = copy.deepcopy(example_record)
    record["method"]["top1_std"] = "__NAN__"
    path.write_text(json.dumps(record).replace('"__NAN__"', "NaN"))
    with pytest.raises(BenchError, match="NaN"):
        records.read(path)


def test_write_is_atomic_and_refuses_invalid_records(tmp_path, example_record):
    path = tmp_path / "out" / "r.json"
    records.write(example_record, path)
    assert records.read(path) == example_record
    bad = dict(example_record, model="")
    with pytest.raises(BenchError):
        records.write(bad, tmp_path / "out" / "bad.json")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r.json"]  # no temp files left


def test_schema_accepts_the_package_fields(example_record):
    example_record["adapter"].update(package=DIST, package_version=VERSION)
    assert not records.problems(example_record)
    example_record["adapter"]["package"] = "x" * 101
    assert records.problems(example_record)


# --- run health ------------------------------------------------------------------------------------------


def _run(top1: float | None, loss: float = 0.1, diverged: bool = False) -> dict:
    return {"top1": top1, "diverged": diverged, "curve": [{"epoch": 0, "lr": 0.1, "train_loss": loss, "val_top1": 50.0}]}


@pytest.mark.parametrize("run, expected", [
    (_run(10.0), True),  # chance on 10 classes
    (_run(20.0), True),  # 10 points above chance: still collapsed
    (_run(20.01), False),
    (_run(97.0, loss=0.95 * math.log(10)), True),  # a loss that never left ln(classes)
    (_run(97.0, loss=0.94 * math.log(10)), False),
    (_run(97.0, loss=5.0), True),  # above a uniform guess
    (_run(None, diverged=True), False),  # diverged is its own flag
])
def test_the_collapse_rule(run, expected):
    assert records.collapsed(run, 10) is expected


def test_a_stated_flag_is_checked_against_the_rule(example_record):
    record = copy.deepcopy(example_record)
    record["method"] = records.with_health(record["method"], 10)
    assert record["method"]["collapsed_runs"] == 0 and records.problems(record) == []
    record["method"]["runs"][1]["collapsed"] = True
    assert any(p.startswith("method/runs/1/collapsed: is True but the rule says False") for p in records.problems(record))
    record["method"]["runs"][1]["collapsed"] = False
    record["method"]["collapsed_runs"] = 2
    assert any(p.startswith("method/collapsed_runs: is 2 but 0") for p in records.problems(record))


def test_bench_validate_rejects_a_wrong_flag(tmp_path, example_record, cli):
    record = copy.deepcopy(example_record)
    record["random_control"]["runs"][0]["collapsed"] = True
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    code, _, err = cli("validate", str(path))
    assert code == 1 and "random_control/runs/0/collapsed" in err


# --- fuzzing ----------------------------------------------------------------------------------------------

BASE = json.loads(HISTORIC_RECORD.read_text())
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)),
    max_leaves=6,
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list) and obj:
        yield from _paths(obj[0], prefix + (0,))


PATHS = [p for p in _paths(BASE) if p]


@fuzzing.FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), json_values), min_size=1, max_size=3))
def fuzz_submission(mutations):
    fuzzing.count("submission")
    record = copy.deepcopy(BASE)
    for path, value in mutations:
        node = record
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    found = records.problems(record)
    assert isinstance(found, list) and all(isinstance(p, str) and ": " in p for p in found)
    if found:
        with pytest.raises(BenchError):
            records.validate(record, "fuzz.json")
    else:
        records.validate(record, "fuzz.json")  # a record without problems is a valid record


@fuzzing.FUZZ
@given(st.binary(max_size=300))
def fuzz_submission_file(blob):
    fuzzing.count("submission_file")
    path = FUZZ_DIR / "fuzz-record.json"
    path.write_bytes(blob)
    with pytest.raises(BenchError):
        records.read(path)


FUZZ_DIR = Path()  # set by the file-reading test to its tmp folder


def test_malformed_records_never_crash():
    fuzzing.run("submission", fuzz_submission)


def test_malformed_record_files_never_crash(tmp_path):
    global FUZZ_DIR
    FUZZ_DIR = tmp_path
    fuzzing.run("submission_file", fuzz_submission_file)
