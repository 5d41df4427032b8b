"""Where and how a specified evaluation runs (bench/evaluation/execution.py): its defaults, and that none of it is
the run's identity: a RunSpec's hash and record path are the same wherever and however it executes; the
execution only picks the folders (and must offer the spec's device type)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from bench import defaults
from bench.core.checkpoint import CHECKPOINT_EVERY
from bench.errors import BenchError
from bench.evaluation.evaluate import evaluate
from bench.evaluation.execution import Execution
from bench.evaluation.spec import RunSpec

from tests.helpers.paths import HISTORIC_RECORD

pytestmark = pytest.mark.usefixtures("one_thread")  # evaluate sets the spec's thread count: restored after

SPEC = dict(adapter="l1-norm", protocol="ft-1", seeds=(0,), threads=1)


def test_the_defaults_run_here_in_the_default_folders():
    execution = Execution()
    assert (execution.runs_dir, execution.records_dir) == (defaults.RUNS_DIR, defaults.RECORDS_DIR) == ("runs", "results")
    assert execution.data_root is None and execution.download is False  # nothing is downloaded unless asked
    assert execution.device == "auto" and execution.checkpoint_every == CHECKPOINT_EVERY
    assert execution.gpu_memory_fraction is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        execution.device = "cpu"


def test_no_field_of_an_execution_is_part_of_a_runs_identity():
    where = {f.name for f in dataclasses.fields(Execution)}
    what = {f.name for f in dataclasses.fields(RunSpec)}
    assert where & what == {"device"}  # the spec's is a device type, the execution's a device (cuda:1)
    spec = RunSpec(**SPEC)
    assert not (where - {"device"}) & set(spec.to_dict())
    identity = json.dumps(spec.identity())
    assert not any(f'"{name}"' in identity for name in where - {"device"})
    with pytest.raises(BenchError, match="a run's device type is cpu or cuda, got 'cuda:1'"):
        RunSpec(**{**SPEC, "device": "cuda:1", "threads": None})


def test_a_run_is_the_same_run_wherever_and_however_it_executes(tmp_path):
    """The record of a spec is found at the same path under any execution's records folder: evaluate finds it
    there and runs nothing, whatever the runs folder, data root or checkpoint cadence."""
    spec = RunSpec(**SPEC)
    hash_, record_path = spec.hash, spec.record_path
    executions = [
        Execution(runs_dir=str(tmp_path / "a" / "runs"), records_dir=str(tmp_path / "a" / "records"), device="cpu"),
        Execution(runs_dir=str(tmp_path / "b" / "runs"), records_dir=str(tmp_path / "b" / "out"), device="cpu",
                  data_root=str(tmp_path / "data"), checkpoint_every=0.0, gpu_memory_fraction=0.5),
    ]
    for execution in executions:
        where = Path(execution.records_dir) / record_path
        where.parent.mkdir(parents=True)
        shutil.copyfile(HISTORIC_RECORD, where)  # a valid record at the spec's path: nothing to run
        record, path = evaluate(spec, execution)
        assert path == where and record["run_id"] == json.loads(HISTORIC_RECORD.read_text())["run_id"]
        assert not Path(execution.runs_dir).exists()  # nothing trained
    assert (spec.hash, spec.record_path) == (hash_, record_path)


def test_the_execution_must_offer_the_specs_device_type(tmp_path):
    spec = RunSpec(**{**SPEC, "device": "cuda", "threads": None})
    execution = Execution(runs_dir=str(tmp_path / "runs"), records_dir=str(tmp_path / "out"), device="cpu")
    with pytest.raises(BenchError, match=r"this run is specified for cuda but would run on cpu here \(--device cpu\)"):
        evaluate(spec, execution)
    assert not (tmp_path / "out").exists()
