"""Record validation, atomic writing and bad-record detection."""

import copy
import json

import pytest

from bench.core import records
from bench.errors import BenchError


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


def test_unwritable_folder_is_a_one_line_error(tmp_path, example_record):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BenchError, match="cannot write"):
        records.write(example_record, blocker / "r.json")


def test_written_files_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        path = records.write_atomic(tmp_path / "page.html", "x")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644  # a web server or another user can read the pages
