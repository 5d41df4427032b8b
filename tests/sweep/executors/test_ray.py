"""The Ray executor (bench/sweep/executors/ray.py): what a Ray task runs, and a real sweep on a local Ray
instance interrupted and restarted."""

from __future__ import annotations

import signal
import time

import pytest

from tests.sweep.sweeping import check_complete, interrupt_once_some_records_exist, overhead, raylets, snapshot, sweep


@pytest.mark.slow
def test_ray_sweep_interrupted_and_restarted(workdir):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'prunebench[ray]')")
    out = workdir / "ray"
    before_raylets = raylets()
    proc = sweep(workdir, "sweep3.toml", "ray", "--executor", "ray", "--jobs", "2")
    interrupt_once_some_records_exist(proc, out, signal.SIGINT, at_least=1, total=3)
    assert proc.returncode == 130
    before = snapshot(out)
    start = time.perf_counter()
    proc = sweep(workdir, "sweep3.toml", "ray", "--executor", "ray", "--jobs", "2")
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    loaded = check_complete(workdir, out, "sweep3.toml", before)
    deadline = time.time() + 30
    while raylets() - before_raylets:  # the local Ray instance went down with the sweep
        assert time.time() < deadline, "the sweep left a Ray instance running"
        time.sleep(0.2)
    print(f"ray executor overhead (Ray start included): {overhead(time.perf_counter() - start, loaded, before)}")


def test_a_ray_task_runs_the_shared_job_function_and_returns_the_record(done_job, example_record):
    from bench.sweep.executors.ray import ray_task

    assert ray_task(done_job.to_json()) == {"status": "skipped", "content": example_record, "seconds": None}
    assert "record already present" in done_job.log.read_text()  # the task logs to the run's own file
