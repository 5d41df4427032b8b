"""Graceful stops: Ctrl-C or SIGTERM finish the current optimizer step, save, and exit with a hint."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from bench.errors import BenchError


class Interrupted(BenchError):
    """Raised after progress was saved because the user asked the run to stop."""


class StopFlag:
    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self.watchers = 0  # loops checking `requested` right now (the training loop, after every step)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Mark a loop that checks the flag often: a signal while it runs asks it to stop at its next
        check (and save) instead of interrupting whatever runs."""
        self.watchers += 1
        try:
            yield
        finally:
            self.watchers -= 1


@contextlib.contextmanager
def stop_on_signals(flag: StopFlag, *, interrupt_unwatched: bool = False) -> Iterator[StopFlag]:
    """While active, SIGINT/SIGTERM set `flag`; the training loop checks it after every step. With
    `interrupt_unwatched`, a signal that comes while no loop watches the flag (hashing a checkpoint,
    loading data, counting, building a model: steps that save nothing and redo cheaply) raises
    `Interrupted` at once, so every long step stops within moments. A second Ctrl-C falls back to the
    default behaviour (immediate KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, _frame):
        if flag.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.requested = True
        flag.signal_name = signal.Signals(signum).name
        if interrupt_unwatched and not flag.watchers:
            raise Interrupted(f"stopped by {flag.signal_name}")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
