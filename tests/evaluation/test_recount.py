"""What `bench validate` checks with the model itself (bench/evaluation/recount.py): the counts recomputed
from the stored structure, and the run id from the record's own specification."""

from __future__ import annotations

import copy
import json

from bench.api import RunSpec
from bench.evaluation import recount


def test_a_true_record_recounts_to_itself_and_an_unknown_model_is_left_to_the_rest(example_record):
    assert recount.problems(example_record) == []
    unknown = copy.deepcopy(example_record)
    unknown["model"] = "my_nets:small_cnn"  # not importable here: nothing to recount, nothing claimed
    assert recount.problems(unknown) == []
    dense = copy.deepcopy(example_record)
    dense["dense"]["flops"] += 1
    assert recount.problems(dense) == [f"dense/flops: not what the model has ({example_record['dense']['flops']})"]


def test_validate_recounts_the_model_from_the_stored_structure(tmp_path, cli, example_record):
    """A record whose counts agree with each other but not with its own pruned structure is refused."""
    forged = copy.deepcopy(example_record)
    method, dense = forged["method"], forged["dense"]
    method["params"] -= 1000  # and the reduction to match, so only the model can tell
    method["params_reduction_pct"] = round(100.0 * (1 - method["params"] / dense["params"]), 4)
    assert recount.problems(forged) == [f"method/params: not what its stored structure gives ({method['params'] + 1000})"]
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    code, _, err = cli("validate", str(path))
    assert code == 1 and "method/params" in err and "not what its stored structure gives" in err


def test_validate_checks_the_run_id_against_the_records_own_spec(tmp_path, cli, example_record):
    record = example_record
    record["spec"] = RunSpec(adapter="hrankplus", threads=1).to_dict()  # another run's spec
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    code, _, err = cli("validate", str(path))
    assert code == 1 and "run_id: not the hash of the record's own spec" in err
