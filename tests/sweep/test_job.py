"""The one function every executor runs for one sweep run (bench/sweep/job.py): a job as JSON, a finished run
skipped whoever wrote its record, a failure logged and reported, the worker's exit codes and progress file."""

from __future__ import annotations

import json

import pytest

from bench.errors import BenchError
from bench.evaluation.spec import RunSpec
from bench.sweep import job as sweep_job
from bench.sweep.job import EXIT_OK, EXIT_USAGE, Job, LogReporter, finished, run_job


def test_a_job_crosses_process_boundaries_as_json_and_keeps_its_state_in_the_sweep_folder(done_job):
    assert Job.from_json(done_job.to_json()) == done_job
    state = done_job.state
    assert (str(done_job.log), str(done_job.lock), str(done_job.progress)) == (
        f"{state}/logs/{done_job.hash}.log", f"{state}/locks/{done_job.hash}.lock", f"{state}/progress/{done_job.hash}.json")


def test_only_a_present_and_valid_record_counts_as_finished(tmp_path, example_record):
    path = tmp_path / "r.json"
    assert finished(path) is None
    path.write_text(json.dumps(example_record)[:-20])  # a partial write
    assert finished(path) is None
    path.write_text(json.dumps(example_record))
    assert finished(path) == example_record


def test_a_run_with_its_record_present_is_skipped_and_says_so_in_its_log(done_job, example_record):
    result = run_job(done_job, capture=True)
    assert result == {"status": "skipped", "record": done_job.record, "content": example_record}
    assert "record already present" in done_job.log.read_text()
    assert done_job.lock.parent.is_dir() and done_job.progress.parent.is_dir()


def test_a_run_that_cannot_run_here_is_a_user_error_in_its_log_and_progress(done_job, tmp_path):
    cuda = RunSpec(adapter="l1-norm", device="cuda")  # specified for a GPU: refused before anything runs here
    job = Job(done_job.hash, done_job.label, cuda.to_dict(), {"device": "cpu", "records_dir": str(tmp_path / "out")},
              str(tmp_path / "out" / cuda.record_path), done_job.state, 2)
    with pytest.raises(BenchError, match="specified for cuda"):
        run_job(job, capture=True)
    assert "bench: error: this run is specified for cuda" in job.log.read_text()
    assert json.loads(job.progress.read_text())["state"] == "failed"
    job_file = tmp_path / "job.json"
    job_file.write_text(job.to_json())
    assert sweep_job.main([str(job_file)]) == EXIT_USAGE  # what the local executor's worker process exits with


def test_the_worker_exits_0_for_a_finished_run(done_job, tmp_path):
    job_file = tmp_path / "job.json"
    job_file.write_text(done_job.to_json())
    assert sweep_job.main([str(job_file)]) == EXIT_OK


def test_the_progress_file_counts_only_the_runs_planned_epochs(done_job):
    reporter = LogReporter(done_job)

    class Log:
        epoch, train_loss, val_top1 = 0, 0.5, 90.0

    with reporter.task("dense resnet20", 30) as on_epoch:  # the dense baseline trains before plan()
        on_epoch(Log)
    assert reporter.done == 0
    reporter.plan(4)
    with reporter.task("l1-norm seed 0", 2) as on_epoch:
        on_epoch(Log)
        on_epoch(Log)
    progress = json.loads(done_job.progress.read_text())
    assert (progress["epochs"], progress["total"], progress["state"]) == (2, 4, "running")
