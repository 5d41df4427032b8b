"""Run jobs on this machine: `--jobs` worker processes at once, each `python -m bench.sweep.job`.

concurrent.futures does the queueing; each pool thread starts one worker process and waits for it.
Processes rather than a ProcessPoolExecutor because a run that crashes, segfaults or is killed by
the out-of-memory killer must fail alone (a broken process pool fails everything after it), and
because each run's stdout/stderr, C-level output included, belongs in its own log file.

Workers run in their own session, so a Ctrl-C reaches only the sweep, which forwards SIGTERM once:
each worker finishes its current step, saves and exits. On Linux a worker also gets SIGTERM when
the sweep dies outright (SIGKILL). With GPUs, each worker slot sees one GPU (CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from bench.errors import BenchError
from bench.infra import files
from bench.infra.interrupt import StopFlag
from bench.sweep.executors import one_line
from bench.sweep.job import EXIT_INTERRUPTED, Job, finished
from bench.sweep.monitor import Monitor

_NOT_STARTED = "not started"


class LocalExecutor:
    def __init__(self, jobs: int, gpus: list[int] | None = None):
        self.jobs = max(1, jobs)
        self.gpus = gpus or []
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def run(self, jobs: list[Job], monitor: Monitor, stop: StopFlag) -> None:
        slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(self.jobs):
            slots.put(slot)

        def work(job: Job) -> tuple[int | str, float]:
            if stop.requested:
                return _NOT_STARTED, 0.0
            slot = slots.get()
            start = time.perf_counter()
            try:
                return self._run_one(job, slot, stop), time.perf_counter() - start
            except (OSError, BenchError) as exc:  # could not even start it (disk full, fork failed)
                return f"could not start its worker: {exc}", 0.0
            finally:
                slots.put(slot)

        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="sweep-worker")
        futures = {pool.submit(work, job): job for job in jobs}
        by_hash = {job.hash: job for job in jobs}
        pending = set(futures)
        forwarded = False
        try:
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                with self._lock:  # the monitor is told here, in one thread
                    running = list(self._procs)
                for key in running:
                    monitor.started(by_hash[key])
                for future in done:
                    self._report(futures[future], *future.result(), monitor, stop)
                if stop.requested and not forwarded:
                    forwarded = True
                    self._signal_all(signal.SIGTERM)
                monitor.tick()
        except BaseException:  # a second Ctrl-C: do not leave workers behind
            self._signal_all(signal.SIGKILL)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _run_one(self, job: Job, slot: int, stop: StopFlag) -> int:
        env = dict(os.environ)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(self.gpus[slot % len(self.gpus)])
        job_file = Path(job.state) / "jobs" / f"{job.hash}.json"
        files.write_atomic(job_file, job.to_json())
        job.log.parent.mkdir(parents=True, exist_ok=True)
        with job.log.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.sweep.job", str(job_file), str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        with self._lock:
            self._procs[job.hash] = proc
        if stop.requested:  # the stop came while this one was starting: it missed the forwarded signal
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait()
        finally:
            with self._lock:
                self._procs.pop(job.hash, None)

    def _report(self, job: Job, rc: int | str, seconds: float, monitor: Monitor, stop: StopFlag) -> None:
        if rc == _NOT_STARTED or (stop.requested and rc != 0):
            monitor.interrupted(job)
        elif isinstance(rc, str):
            monitor.finished(job, error=rc)
        elif rc == 0 and finished(job.record) is not None:
            monitor.finished(job, seconds=seconds)
        elif rc == 0:
            monitor.finished(job, error=f"the worker exited without a valid record at {job.record}")
        elif rc == EXIT_INTERRUPTED:
            monitor.finished(job, error="stopped by a signal (progress saved; the next sweep resumes it)")
        elif isinstance(rc, int) and rc < 0:
            name = signal.Signals(-rc).name if -rc in signal.valid_signals() else str(-rc)
            hint = " (out of memory?)" if rc == -signal.SIGKILL else ""
            monitor.finished(job, error=f"worker killed by {name}{hint}")
        else:
            monitor.finished(job, error=one_line(_tail(job.log)))

    def _signal_all(self, sig: int) -> None:
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass


def _tail(path: Path, size: int = 4096) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
