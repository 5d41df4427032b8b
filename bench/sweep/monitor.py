"""What the user sees while a sweep runs: done / running / failed counts, an overall bar with ETA,
one line per finished run, and at the end the failures with their log paths.

The bar counts retraining epochs, not runs, so the ETA moves during long runs: each run's worker
writes its epoch count to a small progress file (job.LogReporter), which this polls. That works the
same for local workers, Ray tasks and SLURM jobs, as long as the output folder is shared.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text

from bench.sweep.job import Job

DONE, FAILED, INTERRUPTED = "done", "failed", "interrupted"
TICK_SECONDS = 1.0  # progress files are re-read at most this often (cheap on a shared filesystem)


@dataclass
class Outcome:
    job: Job
    state: str
    error: str | None = None
    seconds: float | None = None


@dataclass
class Monitor:
    jobs: list[Job]
    already_done: int
    console: object | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    started_at: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = self.console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} epochs"),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.total = sum(max(j.epochs, 1) for j in self.jobs)
        self.task = self.progress.add_task("sweep", total=max(self.total, 1), counts=self._counts(0))
        self._running: set[str] = set()
        self._epochs: dict[str, int] = {}
        self._last_tick = 0.0

    def __enter__(self) -> Monitor:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.tick(force=True)
        self.progress.stop()

    # --- events from executors -----------------------------------------------------------------

    def started(self, job: Job) -> None:
        self._running.add(job.hash)

    def finished(self, job: Job, error: str | None = None, seconds: float | None = None) -> None:
        self._running.discard(job.hash)
        state = DONE if error is None else FAILED
        self.outcomes[job.hash] = Outcome(job, state, error, seconds)
        took = f" ({seconds:.0f} s)" if seconds is not None else ""
        if error is None:
            line = Text.assemble(("done    ", "green"), f"{job.label}{took}")
        else:
            line = Text.assemble(("failed  ", "red"), f"{job.label}: {error}  (log: {job.log})")
        self.progress.console.print(line, highlight=False)
        self.tick()

    def interrupted(self, job: Job) -> None:
        self._running.discard(job.hash)
        self.outcomes[job.hash] = Outcome(job, INTERRUPTED)

    def tick(self, force: bool = False) -> None:
        """Re-read the workers' progress files (at most once a second) and redraw."""
        now = time.perf_counter()
        if not force and now - self._last_tick < TICK_SECONDS:
            return
        self._last_tick = now
        completed = 0
        running = set(self._running)
        for job in self.jobs:
            outcome = self.outcomes.get(job.hash)
            if outcome is not None and outcome.state == DONE:
                completed += max(job.epochs, 1)
                continue
            info = _read(job.progress) if outcome is None else None
            if info is not None:
                self._epochs[job.hash] = min(int(info.get("epochs", 0)), max(job.epochs, 1))
                if info.get("state") == "running" and outcome is None:
                    running.add(job.hash)
            completed += self._epochs.get(job.hash, 0)
        self.progress.update(self.task, completed=completed, counts=self._counts(len(running)))

    # --- results ----------------------------------------------------------------------------------

    def _counts(self, running: int) -> str:
        states = [o.state for o in self.outcomes.values()]
        done = states.count(DONE) + self.already_done
        total = len(self.jobs) + self.already_done
        return f"done {done}/{total}  running {running}  failed {states.count(FAILED)}"

    def count(self, state: str) -> int:
        return sum(1 for o in self.outcomes.values() if o.state == state)

    def summary(self, out: Path) -> list[str]:
        done, failed = self.count(DONE), self.count(FAILED)
        not_run = len(self.jobs) - done - failed
        seconds = time.perf_counter() - self.started_at
        lines = [
            f"sweep: {len(self.jobs) + self.already_done} runs: {done} done now, {self.already_done} already done, "
            f"{failed} failed, {not_run} not finished ({seconds:.0f} s); records in {out}"
        ]
        failures = [o for o in self.outcomes.values() if o.state == FAILED]
        if failures:
            lines.append("failed runs (rerun the same command to retry them; finished runs are not redone):")
            lines += [f"  {o.job.label}: {o.error}\n    log: {o.job.log}" for o in failures]
        return lines


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
