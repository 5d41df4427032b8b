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


@contextlib.contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[StopFlag]:
    """While active, SIGINT/SIGTERM only set `flag`; the training loop checks it after every step.
    A second Ctrl-C falls back to the default behaviour (immediate KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, _frame):
        if flag.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.requested = True
        flag.signal_name = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
