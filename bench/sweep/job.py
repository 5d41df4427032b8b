"""The one function every executor runs for one sweep run: `run_job(job)`.

It is what makes a sweep idempotent and resumable wherever it runs:

- a per-run file lock, so two sweeps (or a restarted sweep and an orphaned worker) never train the
  same run at once; the second waits, then finds the record and skips;
- the worker receives the run's `RunSpec` as JSON, the value `bench evaluate` builds from its flags;
- a finished run (its record at the spec's path, valid) is skipped, whoever wrote it (an earlier
  sweep, or `bench evaluate --out` into the same folder);
- otherwise `api.evaluate` runs, which resumes every (arm, seed) from its checkpoints under runs/
  (and reuses runs other evaluations trained) and writes the record atomically at that path, so an
  interrupted sweep never leaves a partial or a duplicate record.

`python -m bench.sweep.job JOB.json` runs it in a fresh process (the local executor's workers);
Ray tasks and submitit jobs call `run_job` directly with `capture=True`, so every run logs to its
own file whichever executor ran it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import api
from bench.core import records
from bench.errors import BenchError
from bench.infra import files
from bench.infra.interrupt import Interrupted, StopFlag, stop_on_signals
from bench.infra.progress import Reporter

EXIT_OK, EXIT_CRASH, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass(frozen=True)
class Job:
    """Everything a worker needs, as plain JSON (it crosses process and machine boundaries)."""

    hash: str
    label: str
    spec: dict  # RunSpec.to_dict(): what the run is
    execution: dict  # bench.api.Execution fields: where it runs (records_dir is the sweep's output folder)
    record: str  # final record path (absolute)
    state: str  # the sweep's hidden state folder (absolute): logs/, locks/, progress/
    epochs: int = 0  # planned retraining epochs (seeds × arms × protocol epochs)

    @property
    def log(self) -> Path:
        return Path(self.state) / "logs" / f"{self.hash}.log"

    @property
    def progress(self) -> Path:
        return Path(self.state) / "progress" / f"{self.hash}.json"

    @property
    def lock(self) -> Path:
        return Path(self.state) / "locks" / f"{self.hash}.lock"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Job:
        return cls(**json.loads(text))


def finished(path: str | Path) -> dict | None:
    """The record at `path` if it is present and valid; None otherwise (absent, partial, invalid)."""
    try:
        return records.read(path)
    except BenchError:
        return None


class LogReporter(Reporter):
    """Plain lines for a log file, and the run's epoch count in a small file the sweep's monitor polls
    (which is how the sweep's ETA moves during long runs, on any executor with a shared folder)."""

    def __init__(self, job: Job):
        self.job = job
        self.total = job.epochs
        self.done = 0
        self.planned = False  # epochs before plan() train the dense baseline, not this run's networks

    def write_progress(self, state: str = "running") -> None:
        info = {"epochs": self.done, "total": self.total, "state": state, "host": socket.gethostname(), "pid": os.getpid()}
        try:
            files.write_atomic(self.job.progress, json.dumps(info))
        except BenchError:
            pass  # progress is a convenience; never fail a run over it

    def plan(self, total_epochs: int) -> None:
        self.total, self.planned = total_epochs, True
        self.write_progress()

    @contextlib.contextmanager
    def task(self, label: str, epochs: int):
        self.message(f"{label}: training {epochs} epochs")

        def on_epoch(log) -> None:
            self.done += self.planned
            self.message(f"{label}: epoch {log.epoch + 1}/{epochs} loss {log.train_loss:.4f} val top-1 {log.val_top1:.2f}%")
            self.write_progress()

        yield on_epoch

    def message(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _captured(path: Path, capture: bool) -> Iterator[None]:
    if not capture:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield


def run_job(job: Job, stop: StopFlag | None = None, capture: bool = False) -> dict:
    """Run one sweep run to its record; returns {"status": "done" | "skipped", "record": path, ...}.

    Raises BenchError (user-level problem), Interrupted (stopped by a signal, progress saved) or any
    other exception (a crash); the traceback is in the run's log either way."""
    from filelock import FileLock

    for folder in ("logs", "locks", "progress"):
        (Path(job.state) / folder).mkdir(parents=True, exist_ok=True)
    with _captured(job.log, capture):
        reporter = LogReporter(job)
        lock = FileLock(str(job.lock))
        if not lock.acquire(blocking=False):
            reporter.message(f"another worker is running {job.label}; waiting for it")
            lock.acquire()
        try:
            record = finished(job.record)
            if record is not None:
                reporter.message(f"{job.label}: record already present at {job.record}; nothing to do")
                return {"status": "skipped", "record": job.record, "content": record}
            reporter.message(f"{job.label}: starting on {socket.gethostname()} (pid {os.getpid()}, run {job.hash})")
            reporter.write_progress()
            start = time.perf_counter()
            try:
                record, path = api.evaluate(api.RunSpec.from_dict(job.spec), api.Execution(**job.execution), reporter, stop)
            except Interrupted as exc:
                reporter.message(f"{job.label}: {exc}; progress saved, the next sweep resumes it")
                reporter.write_progress("interrupted")
                raise
            except BenchError as exc:
                reporter.message(f"bench: error: {exc}")
                reporter.write_progress("failed")
                raise
            except KeyboardInterrupt:  # a cancelled Ray task
                reporter.message(f"{job.label}: cancelled; the next sweep resumes it from its last epoch checkpoint")
                reporter.write_progress("interrupted")
                raise
            except BaseException:
                reporter.message(traceback.format_exc().rstrip())
                reporter.write_progress("failed")
                raise
            if path.resolve() != Path(job.record).resolve():  # the spec names the record: a mismatch is a bug, not a user error
                raise RuntimeError(f"{job.label}: the record went to {path}, not to {job.record}")
            reporter.message(f"{job.label}: record written to {job.record}")
            reporter.write_progress("done")
            return {"status": "done", "record": job.record, "seconds": time.perf_counter() - start, "content": record}
        finally:
            lock.release()


def _die_with_parent(parent: int) -> None:
    """Linux: get SIGTERM (save and stop) when the sweep that started us dies, even by SIGKILL, rather
    than run on as an orphan. Elsewhere an orphan finishes its run; the lock keeps that harmless."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.sweep.job JOB.json [PARENT_PID]`: one run in this process (stdout/stderr are
    the run's log). Exit codes: 0 done or skipped, 2 user error, 130 interrupted, 1 crash."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
    argv = sys.argv[1:] if argv is None else argv
    job = Job.from_json(Path(argv[0]).read_text(encoding="utf-8"))
    with stop_on_signals(StopFlag(), interrupt_unwatched=True) as stop:
        if len(argv) > 1:
            _die_with_parent(int(argv[1]))
        try:
            run_job(job, stop)
        except Interrupted:
            return EXIT_INTERRUPTED
        except BenchError:
            return EXIT_USAGE
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except Exception:
            return EXIT_CRASH
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
