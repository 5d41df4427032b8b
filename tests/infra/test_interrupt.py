"""Graceful stops (bench/infra/interrupt.py): Ctrl-C or SIGTERM only set the stop flag, which the training loop
checks after every step; a second Ctrl-C interrupts at once; the handlers are restored afterwards."""

import os
import signal
import threading

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
