"""The local executor (bench/sweep/executors/local.py): worker processes on this machine, each run's exit
turned into what the monitor shows; and a real sweep killed midway and restarted."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from bench.core import records
from bench.infra.interrupt import StopFlag
from bench.sweep.executors.local import _NOT_STARTED, LocalExecutor
from bench.sweep.job import EXIT_INTERRUPTED

from tests.sweep.sweeping import (
    FAILING,
    SWEEP_8,
    check_complete,
    interrupt_once_some_records_exist,
    overhead,
    snapshot,
    sweep,
    wait_for_exit,
    worker_pids,
)


@pytest.mark.slow
def test_local_sweep_killed_midway_and_restarted_with_a_failing_run(workdir):
    """SIGKILL the sweep once records exist; its workers stop too (and save); the restart skips what
    finished, resumes the rest, runs past the failure, lists it with its log and exits 1."""
    grid = SWEEP_8.replace('checkpoint = "dense.pt"', 'data_root = "nowhere"\n\n[checkpoint]\nresnet20 = "dense.pt"')
    (workdir / "local.toml").write_text(grid + FAILING)
    out = workdir / "local"
    proc = sweep(workdir, "local.toml", "local", "--jobs", "2")
    interrupt_once_some_records_exist(proc, out, signal.SIGKILL, at_least=2, total=8)
    wait_for_exit(worker_pids(out))  # the workers follow the sweep (SIGTERM: they save and stop)
    before = snapshot(out)
    for text in before.values():
        records.validate(json.loads(text))  # what an interrupted sweep leaves is complete, or absent
    start = time.perf_counter()
    proc = sweep(workdir, "local.toml", "local", "--jobs", "2")
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr  # the failing run
    assert f"{len(before)} of 9 runs already have their record" in stderr
    assert f"{8 - len(before)} done now, {len(before)} already done, 1 failed" in stdout, stdout
    (log,) = [line.split("log: ", 1)[1] for line in stdout.splitlines() if line.strip().startswith("log: ")]
    assert "resnet32/cifar10" in stdout and "CIFAR" in Path(log).read_text()
    loaded = check_complete(workdir, out, "local.toml", before, failed=1)
    print(f"local executor overhead: {overhead(time.perf_counter() - start, loaded, before)}")


class Events:
    """A monitor that keeps what the executor told it."""

    def __init__(self):
        self.seen = []

    def started(self, job):
        self.seen.append(("started", job.hash))

    def finished(self, job, error=None, seconds=None):
        self.seen.append(("finished", job.hash, error))

    def interrupted(self, job):
        self.seen.append(("interrupted", job.hash))

    def tick(self, force=False):
        pass


@pytest.mark.parametrize("rc, stop, expected", [
    (0, False, ("finished", None)),
    (EXIT_INTERRUPTED, False, ("finished", "stopped by a signal (progress saved; the next sweep resumes it)")),
    (-signal.SIGKILL, False, ("finished", "worker killed by SIGKILL (out of memory?)")),
    (-signal.SIGSEGV, False, ("finished", "worker killed by SIGSEGV")),
    (1, False, ("finished", "RuntimeError: the last line of the log")),
    ("could not start its worker: disk full", False, ("finished", "could not start its worker: disk full")),
    (1, True, ("interrupted",)),  # after a Ctrl-C a worker that did not finish is interrupted, not failed
    (_NOT_STARTED, False, ("interrupted",)),
])
def test_each_way_a_worker_ends_is_reported_as_the_user_should_read_it(done_job, rc, stop, expected):
    done_job.log.parent.mkdir(parents=True, exist_ok=True)
    done_job.log.write_text("Traceback (most recent call last):\nRuntimeError: the last line of the log\n")
    flag = StopFlag()
    flag.requested = stop
    events = Events()
    LocalExecutor(1)._report(done_job, rc, 1.0, events, flag)
    ((kind, key, *error),) = events.seen
    assert (kind, *error) == expected and key == done_job.hash


def test_a_worker_that_exits_0_without_its_record_failed(done_job):
    Path(done_job.record).unlink()
    events = Events()
    LocalExecutor(1)._report(done_job, 0, 1.0, events, StopFlag())
    assert events.seen == [("finished", done_job.hash, f"the worker exited without a valid record at {done_job.record}")]


def test_a_worker_process_runs_the_job_and_the_executor_reports_it(done_job):
    """One real worker (`python -m bench.sweep.job`), for a run whose record is there: it skips, exits 0."""
    events = Events()
    LocalExecutor(1).run([done_job], events, StopFlag())
    assert ("finished", done_job.hash, None) in events.seen
    assert (Path(done_job.state) / "jobs" / f"{done_job.hash}.json").is_file()
    assert "record already present" in done_job.log.read_text()
