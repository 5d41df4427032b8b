"""Progress reporting for long work. The API talks to a `Reporter`; the CLI passes a rich one.

Each training run is a task advanced once per epoch; an optional overall task (`plan`) advances with
every epoch of every run so the ETA covers the whole job. `EpochLog` is what the training loop reports
after each epoch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator


@dataclass(frozen=True)
class EpochLog:
    """One trained epoch, as the training loop reports it (and a checkpoint stores its curve)."""

    epoch: int
    lr: float  # LR of the epoch's last step
    train_loss: float
    val_top1: float

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "lr": self.lr, "train_loss": self.train_loss, "val_top1": self.val_top1}


OnEpoch = Callable[[EpochLog], None]


class Reporter:
    def plan(self, total_epochs: int) -> None:
        """Announce how many epochs the whole job will train (for an overall ETA)."""

    @contextlib.contextmanager
    def task(self, label: str, epochs: int) -> Iterator[OnEpoch]:
        yield lambda log: None

    def message(self, text: str) -> None:
        """A one-line note for the user (cache reuse, divergence)."""


SilentReporter = Reporter


class RichReporter(Reporter):
    def __init__(self, console=None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._overall = None
        self._live = False

    def __enter__(self) -> "RichReporter":
        return self

    def __exit__(self, *exc) -> None:
        if self._live:
            self.progress.stop()

    def _start(self) -> None:
        # Started with the first bar, not on entry: a stopped display that never showed a bar still
        # writes an empty line, which would put a blank line before a one-line error.
        if not self._live:
            self._live = True
            self.progress.start()

    def plan(self, total_epochs: int) -> None:
        self._start()
        if self._overall is None:
            self._overall = self.progress.add_task("all runs", total=total_epochs, status="")
        else:
            self.progress.update(self._overall, total=total_epochs)

    @contextlib.contextmanager
    def task(self, label: str, epochs: int) -> Iterator[OnEpoch]:
        self._start()
        task_id = self.progress.add_task(label, total=epochs, status="")

        def on_epoch(log: EpochLog) -> None:
            status = f"loss {log.train_loss:.3f} val {log.val_top1:.1f}%"
            self.progress.update(task_id, advance=1, status=status)
            if self._overall is not None:
                self.progress.update(self._overall, advance=1)

        try:
            yield on_epoch
        finally:
            self.progress.update(task_id, completed=epochs)

    def message(self, text: str) -> None:
        self.progress.console.print(text)


class LineReporter(Reporter):
    """Plain timestamped lines, one per epoch, flushed at once: progress under a pipe, nohup, CI or a
    batch scheduler, where a live display would hold everything back until the end."""

    def __init__(self, stream=None, clock: Callable[[], float] | None = None):
        import sys
        import time

        self.stream = stream or sys.stderr
        self.clock = clock or time.monotonic
        self.start = self.clock()
        self.total = self.done = 0

    def __enter__(self) -> "LineReporter":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def _line(self, text: str) -> None:
        import datetime as dt

        print(f"{dt.datetime.now():%H:%M:%S} {text}", file=self.stream, flush=True)

    def plan(self, total_epochs: int) -> None:
        self.total = total_epochs

    @contextlib.contextmanager
    def task(self, label: str, epochs: int) -> Iterator[OnEpoch]:
        self._line(f"{label}: training {epochs} epochs")

        def on_epoch(log: EpochLog) -> None:
            self.done += 1
            overall = ""
            if self.total:
                elapsed = self.clock() - self.start
                left = elapsed / self.done * max(self.total - self.done, 0)
                overall = f" (all runs: {self.done}/{self.total} epochs, ETA {_duration(left)})"
            self._line(f"{label}: epoch {log.epoch + 1}/{epochs} loss {log.train_loss:.4f} "
                       f"val top-1 {log.val_top1:.2f}%{overall}")

        yield on_epoch

    def message(self, text: str) -> None:
        self._line(text)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def for_terminal(stream=None) -> Reporter:
    """Bars where a person watches a terminal, timestamped lines anywhere else."""
    import sys

    stream = stream or sys.stderr
    return RichReporter() if stream.isatty() else LineReporter(stream)
