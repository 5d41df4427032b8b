"""The SLURM executor (bench/sweep/executors/slurm.py, through submitit): time limits, what a job runs, the
parameters it submits with; and a real sweep on submitit's local executor interrupted and restarted."""

from __future__ import annotations

import signal
import time

import pytest

from bench.errors import BenchError

from tests.sweep.sweeping import check_complete, interrupt_once_some_records_exist, overhead, snapshot, sweep


@pytest.mark.slow
def test_submitit_local_sweep_interrupted_and_restarted(workdir):
    pytest.importorskip("submitit", reason="submitit is not installed (pip install 'prunebench[slurm]')")
    out = workdir / "submitit"
    args = ("--executor", "slurm", "--cluster", "local", "--jobs", "2", "--time", "10")
    proc = sweep(workdir, "sweep3.toml", "submitit", *args)
    interrupt_once_some_records_exist(proc, out, signal.SIGINT, at_least=1, total=3)
    assert proc.returncode == 130
    before = snapshot(out)
    start = time.perf_counter()
    proc = sweep(workdir, "sweep3.toml", "submitit", *args)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    loaded = check_complete(workdir, out, "sweep3.toml", before)
    print(f"submitit-local executor overhead: {overhead(time.perf_counter() - start, loaded, before)}")


@pytest.fixture
def slurm():
    pytest.importorskip("submitit", reason="submitit is not installed (pip install 'prunebench[slurm]')")
    from bench.sweep.executors import slurm

    return slurm


@pytest.mark.parametrize("text, minutes", [("30", 30), ("1:30", 2), ("1:30:00", 90), ("0:10:01", 11), ("2-00:00:00", 2880)])
def test_time_limits_read_as_slurm_does(slurm, text, minutes):
    assert slurm.parse_time(text) == minutes


@pytest.mark.parametrize("text", ["", "abc", "1:2:3:4", "0", "0:00:00"])
def test_a_bad_time_limit_is_a_one_line_error(slurm, text):
    with pytest.raises(BenchError, match="--time"):
        slurm.parse_time(text)


def test_slurm_needs_sbatch_and_submits_with_the_sweeps_parameters(slurm, tmp_path, monkeypatch):
    monkeypatch.setattr(slurm.shutil, "which", lambda name: None)
    with pytest.raises(BenchError, match="needs SLURM's sbatch on PATH"):
        slurm.SlurmExecutor(tmp_path, "slurm", None, None, "10", 0, 1)
    monkeypatch.setattr(slurm.shutil, "which", lambda name: "/usr/bin/sbatch")
    executor = slurm.SlurmExecutor(tmp_path, "slurm", 8, "gpu", "1:00:00", 1, 4)
    assert executor.parameters == {"timeout_min": 60, "cpus_per_task": 4, "gpus_per_node": 1, "tasks_per_node": 1, "nodes": 1,
                                   "name": "bench-sweep", "slurm_array_parallelism": 8, "slurm_partition": "gpu"}
    assert "slurm_partition" not in slurm.SlurmExecutor(tmp_path, "local", None, "gpu", "10", 0, 1).parameters


def test_a_slurm_job_runs_the_shared_job_function(slurm, done_job):
    assert slurm.SweepJob(done_job.to_json())() == {"status": "skipped", "seconds": None}
