"""Signals stop every long step: at once outside the training loop, at the loop's next step inside it."""

import os
import signal
import time

import pytest

from bench.infra.interrupt import Interrupted, StopFlag, stop_on_signals


def _busy(seconds: float) -> None:
    """A long step that checks no flag (hashing, loading, counting)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass


def test_a_signal_outside_a_watching_loop_stops_the_step_at_once():
    start = time.monotonic()
    with pytest.raises(Interrupted, match="stopped by SIGTERM"):
        with stop_on_signals(StopFlag(), interrupt_unwatched=True):
            os.kill(os.getpid(), signal.SIGTERM)
            _busy(5)
    assert time.monotonic() - start < 2


def test_inside_a_watching_loop_a_signal_only_asks_it_to_stop():
    flag = StopFlag()
    with stop_on_signals(flag, interrupt_unwatched=True), flag.watching():
        os.kill(os.getpid(), signal.SIGTERM)
        _busy(0.1)
    assert flag.requested and flag.signal_name == "SIGTERM" and flag.watchers == 0


def test_without_interrupt_unwatched_a_signal_only_sets_the_flag():
    """The sweep's driver and executors poll the flag in their own loops."""
    flag = StopFlag()
    with stop_on_signals(flag):
        os.kill(os.getpid(), signal.SIGINT)
        _busy(0.1)
    assert flag.requested and flag.signal_name == "SIGINT"
