"""One evaluation (bench/evaluation/evaluate.py): dense → prune → retrain each arm and seed → one record;
the checks it makes before any training, iterative pruning, cost targets and the allocation control."""

from __future__ import annotations

import json

import pytest
import torch

from bench.api import RunSpec
from bench.core import records
from bench.errors import BenchError
from bench.evaluation.evaluate import Execution, evaluate, random_control_adapter, specify
from bench.pruning import Target
from bench.pruning.cost import TOLERANCE
from bench.ui.cli import main

from tests.helpers.reporters import Recording


@pytest.mark.slow
def test_iterative_evaluation_records_every_step_and_resumes(options):
    opts = options(adapter="l1-norm", iterations=2, target=Target(ratio=0.5))
    record, path = evaluate(*opts)
    assert records.read(path) == record
    assert record["protocol"]["iterations"] == 2
    method, control = record["method"], record["random_control"]
    steps = method["runs"][0]["steps"]
    assert [s["step"] for s in steps] == [1, 2] and steps[0]["flops"] > steps[1]["flops"] == method["flops"]
    assert [s["structure"] for s in steps] == [s["structure"] for s in control["runs"][0]["steps"]]
    assert method["runs"][0]["top1"] == steps[-1]["top1"]

    reporter = Recording()
    assert evaluate(*opts, reporter=reporter)[0] == record  # the record is there: nothing runs
    assert len(reporter.messages) == 1 and "already in" in reporter.messages[0]
    path.unlink()
    again, _ = evaluate(*opts, reporter=reporter)
    assert sum("reusing its own finished run" in m for m in reporter.messages) == 4  # 2 arms x 2 steps: nothing retrained
    assert again["method"]["runs"] == method["runs"] and again["run_id"] == record["run_id"]


def test_soft_pruning_in_a_layout_that_is_not_full_width_is_refused_before_any_training(tmp_path, options):
    with pytest.raises(BenchError, match="needs a full-width layout.*use --layout full-width"):
        evaluate(*options(adapter="sfp", layout="hrankplus"))
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("result.json"))


@pytest.mark.slow
def test_evaluate_at_a_speedup_records_the_match_and_both_controls(tmp_path, capsys, dense_weights):
    out = {}
    for adapter in ("taylor", "l1-norm"):
        code = main(["evaluate", "--adapter", adapter, "--speedup", "3", "--protocol", "ft-1", "--seeds", "2",
                     "--allocation-control", "--checkpoint", str(dense_weights), "--out", str(tmp_path / "results"),
                     "--runs-dir", str(tmp_path / "runs"), "--threads", "1"])
        _, err = capsys.readouterr()
        assert code == 0, err
        (path,) = (tmp_path / "results").rglob(f"{adapter}_*.json")
        out[adapter] = records.read(path)
    taylor, l1 = out["taylor"], out["l1-norm"]
    for record in (taylor, l1):
        target, dense = record["target"], record["dense"]["flops"]
        assert target["speedup"] == 3 and target["ratio"] is None and target["description"] == "speedup=3"
        assert abs(record["method"]["flops"] - dense / 3) <= TOLERANCE * dense
        assert target["match"]["flops"] == record["method"]["flops"]
        assert record["spec"]["target"]["speedup"] == 3  # the identity holds the target, not the ratio found
    # taylor allocates globally: its allocation control is another network, at the same FLOPs
    alloc = taylor["allocation_control"]
    assert alloc["structure"] != taylor["method"]["structure"] and len(alloc["runs"]) == 2
    assert abs(alloc["flops"] - taylor["method"]["flops"]) <= TOLERANCE * taylor["dense"]["flops"]
    # l1-norm prunes at one rate: its allocation control is its random control, trained once
    assert l1["allocation_control"] == "same_as_random_control"


def test_without_a_random_control_a_uniform_allocation_control_is_trained(tmp_path, capsys, dense_weights):
    code = main(["evaluate", "--adapter", "l1-norm", "--speedup", "3", "--protocol", "ft-1", "--seeds", "1",
                 "--no-random-control", "--allocation-control", "--checkpoint", str(dense_weights),
                 "--out", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs"), "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    (path,) = (tmp_path / "results").rglob("*.json")
    record = records.read(path)  # valid: it does not name a random control it lacks
    assert record["random_control"] is None and record["allocation_control"]["structure"] == record["method"]["structure"]


def test_a_spec_runs_only_where_its_numbers_hold():
    with pytest.raises(BenchError, match="specified for cuda"):
        evaluate(RunSpec(adapter="l1-norm", device="cuda"), Execution(device="cpu"))


def test_an_evaluation_whose_record_is_there_returns_it_and_runs_nothing(tmp_path, example_record):
    """Whoever wrote it (an earlier `bench evaluate`, or a sweep into the same folder)."""
    spec = specify(torch.device("cpu"), adapter="l1-norm", protocol="ft-1", seeds=(0,))
    execution = Execution(runs_dir=str(tmp_path / "runs"), records_dir=str(tmp_path / "out"), device="cpu")
    path = tmp_path / "out" / spec.record_path
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(example_record))
    reporter = Recording()
    assert evaluate(spec, execution, reporter) == (example_record, path)
    assert reporter.messages == [f"the record of this evaluation is already in {path}; nothing to run"]
    assert reporter.trained == [] and not (tmp_path / "runs").exists()


def test_the_random_control_prunes_in_the_methods_kind():
    from bench.pruning import get_adapter

    assert random_control_adapter(get_adapter("l1-norm")()).kind == "structured"
    control = random_control_adapter(get_adapter("global-magnitude")())
    assert control.name == "random" and control.kind == "unstructured"
