"""What the user sees while a sweep runs (bench/sweep/monitor.py): one line per finished run, counts, the
overall epochs from the workers' progress files, and the failures with their logs at the end."""

from __future__ import annotations

import dataclasses
import io
import json

from rich.console import Console

from bench.sweep.monitor import DONE, FAILED, INTERRUPTED, Monitor


def _monitor(done_job, n=3, already_done=1):
    jobs = [dataclasses.replace(done_job, hash=f"{i:012d}", label=f"run {i}", epochs=4) for i in range(n)]
    stream = io.StringIO()
    return Monitor(jobs, already_done, console=Console(file=stream, width=200, color_system=None)), jobs, stream


def test_finished_runs_print_a_line_each_and_failures_name_their_log(done_job):
    monitor, jobs, stream = _monitor(done_job)
    monitor.started(jobs[0])
    monitor.finished(jobs[0], seconds=12.3)
    monitor.finished(jobs[1], error="CUDA out of memory")
    monitor.interrupted(jobs[2])
    printed = stream.getvalue()
    assert "done    run 0 (12 s)" in printed and f"failed  run 1: CUDA out of memory  (log: {jobs[1].log})" in printed
    assert [monitor.count(s) for s in (DONE, FAILED, INTERRUPTED)] == [1, 1, 1]
    first, *failures = monitor.summary(done_job.state)
    assert first.startswith("sweep: 4 runs: 1 done now, 1 already done, 1 failed, 1 not finished")
    assert failures == ["failed runs (rerun the same command to retry them; finished runs are not redone):",
                        f"  run 1: CUDA out of memory\n    log: {jobs[1].log}"]


def test_the_bar_counts_the_epochs_the_workers_report(done_job):
    monitor, jobs, _ = _monitor(done_job)
    jobs[1].progress.parent.mkdir(parents=True, exist_ok=True)
    jobs[1].progress.write_text(json.dumps({"epochs": 3, "total": 4, "state": "running"}))
    jobs[2].progress.write_text("{not json")  # half-written: read again next time
    monitor.finished(jobs[0], seconds=1.0)
    monitor.tick(force=True)
    task = monitor.progress.tasks[0]
    assert (task.completed, task.total) == (4 + 3, 12)
    assert task.fields["counts"] == "done 2/4  running 1  failed 0"
