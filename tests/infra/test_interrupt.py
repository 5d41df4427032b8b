"""Graceful stops (bench/infra/interrupt.py): Ctrl-C or SIGTERM only set the stop flag, which the training loop
checks after every step; a second Ctrl-C interrupts at once; the handlers are restored afterwards."""

import os
import signal
import threading
import time

import pytest

from bench.errors import BenchError
from bench.infra.interrupt import Interrupted, StopFlag, stop_on_signals


def test_sigterm_and_sigint_set_the_flag_and_the_handlers_are_restored():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    flag = StopFlag()
    with stop_on_signals(flag) as active:
        assert active is flag and not flag.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag.requested and flag.signal_name == "SIGTERM"
    assert {s: signal.getsignal(s) for s in before} == before
    flag = StopFlag()
    with stop_on_signals(flag):
        os.kill(os.getpid(), signal.SIGINT)
        assert flag.requested and flag.signal_name == "SIGINT"
        with pytest.raises(KeyboardInterrupt):  # the second Ctrl-C: stop now
            os.kill(os.getpid(), signal.SIGINT)
    assert {s: signal.getsignal(s) for s in before} == before


def test_off_the_main_thread_no_handler_is_installed():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def worker():
        with stop_on_signals(StopFlag()) as flag:
            seen.append((flag.requested, signal.getsignal(signal.SIGTERM)))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [(False, before)]


def test_an_interrupt_is_a_one_line_user_error():
    assert issubclass(Interrupted, BenchError)


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
