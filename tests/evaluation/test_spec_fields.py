"""A record is what its spec produces: `bench validate` recomputes every field the spec determines
(bench/evaluation/spec_fields.py) and refuses a record that carries another run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.evaluation import recount, spec_fields

from tests.helpers.paths import REPO

REFERENCES = REPO / "submissions" / "digits" / "resnet20"


def _reference(pattern: str) -> dict:
    found = sorted(p for p in REFERENCES.glob(pattern) if not p.name.endswith(".verification.json"))
    if not found:
        pytest.skip(f"no committed reference record {pattern}")
    return json.loads(found[0].read_text())


def _forgeries() -> dict:
    """name → edit of a speed-up-4 FT-40 record, each taking a field from a speed-up-16 CLR-40 record
    (the issue's forgery: another run's target and counts under one's own spec and run id)."""
    return {
        "target": lambda r, o: r.update(target=o["target"]),
        "protocol": lambda r, o: r.update(protocol=o["protocol"]),
        "layout": lambda r, o: r.update(layout=o["layout"]),
        "no layout": lambda r, o: r.pop("layout"),
        "adapter args": lambda r, o: r["adapter"].update(args={**r["adapter"]["args"], "made_up": 1}),
        "adapter version": lambda r, o: r["adapter"].update(version="99"),
        "model": lambda r, o: r.update(model="resnet56"),
        "split": lambda r, o: r["dataset"].update(split_seed=7),
        "controls": lambda r, o: r.update(random_control=None),
        "dense weights": lambda r, o: r["dense"].update(weights_sha256="0" * 64),
    }


@pytest.mark.parametrize("name", list(_forgeries()))
def test_a_field_the_spec_determines_cannot_be_taken_from_another_run(name, tmp_path, cli):
    record, other = _reference("fpgm_speedup4_ft-40_*.json"), _reference("l1-norm_speedup16_clr-40_*.json")
    assert recount.problems(record) == []  # the committed record is what its spec produces
    _forgeries()[name](record, other)
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(record))
    code, _, err = cli("validate", str(path))
    assert code == 1 and "FAIL" in err, err


def test_a_record_names_a_protocol_never_a_file(tmp_path, cli):
    record = _reference("fpgm_speedup4_ft-40_*.json")
    secret = tmp_path / "secret.toml"
    secret.write_text('name = "x"\n')
    for protocol in ("/etc/passwd", str(secret), "..\\protocols\\ft.toml", "ft-40.toml"):
        record["spec"]["protocol"] = protocol
        path = tmp_path / "r.json"
        path.write_text(json.dumps(record))
        code, _, err = cli("validate", str(path))
        # the schema's pattern refuses a path; a name that ends in .toml passes it and is refused by the spec check
        assert code == 1 and ("spec/protocol: must match the pattern" in err or "spec.protocol: a record names a protocol" in err)
        assert protocol not in err  # the field's path, not its value
        with pytest.raises(BenchError, match=r"^spec\.protocol: a record names a protocol of protocols/"):
            spec_fields.record_spec(record)  # verify reads the spec this way: no file of the record's choosing


def test_a_spec_of_the_wrong_shape_is_one_line_naming_the_spec(tmp_path, cli):
    record = _reference("fpgm_speedup4_ft-40_*.json")
    for field, value in (("seeds", 5), ("target", [0.5]), ("protocol", 7), ("hparams", "x"), ("threads", "many")):
        bad = json.loads(json.dumps(record))
        bad["spec"][field] = value
        path: Path = tmp_path / "r.json"
        path.write_text(json.dumps(bad))
        code, _, err = cli("validate", str(path))
        assert code == 1 and err.count("\n") == 1 and "spec" in err and "Traceback" not in err, (field, err)


def test_scratch_b_epochs_follow_from_the_pruned_network_not_from_the_spec():
    """Scratch-B trains for the dense budget in FLOPs: its epochs (and the FLOPs ratio) depend on the
    pruned network, so they are the one part of a protocol the spec alone does not fix."""
    from bench.evaluation import spec_fields
    from bench.evaluation.spec import RunSpec

    spec = RunSpec(adapter="width-scaled", protocol="scratch-b", threads=1)
    expected = spec_fields.expected(spec, None)
    stated = {k: v for k, v in spec.resolved_protocol.to_dict().items() if v is not None}  # as build_record states it
    record = {"protocol": {**stated, "epochs": 117, "flops_ratio": 3.9}}
    assert spec_fields.actual(record, "protocol") == expected["protocol"]
    record["protocol"]["lr_max"] = 0.5  # anything else still counts
    assert spec_fields.actual(record, "protocol") != expected["protocol"]
