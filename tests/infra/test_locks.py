"""Cross-process exclusion (bench/infra/locks.py): the first process runs at once and silently; another that
needs the same work waits, says so in one line, and runs once the first is done."""

import threading
import time

from filelock import FileLock

from bench.infra import distributed
from bench.infra.locks import exclusive

from tests.helpers.reporters import Recording


def test_an_uncontended_lock_is_taken_silently_in_a_folder_it_makes(tmp_path):
    reporter = Recording()
    lock = tmp_path / "runs" / "dense" / "x" / "lock"
    with exclusive(lock, reporter, "waiting"):
        assert lock.exists()
    assert reporter.messages == []
    with exclusive(lock, reporter, "waiting"):  # released: free again
        pass
    assert reporter.messages == []


def test_a_second_holder_says_it_waits_then_runs_after_the_first(tmp_path):
    lock = tmp_path / "lock"
    held, order = threading.Event(), []

    def first():  # another holder of the same lock file (as another process would be)
        with FileLock(str(lock)):
            held.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(timeout=10)
    reporter = Recording()
    with exclusive(lock, reporter, "another process is training this dense baseline; waiting"):
        order.append("second runs")
    thread.join()
    assert reporter.messages == ["another process is training this dense baseline; waiting"]
    assert order == ["first done", "second runs"]


def test_ranks_other_than_zero_follow_rank_zero_without_a_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "is_main", lambda: False)
    with exclusive(tmp_path / "sub" / "lock", Recording(), "waiting"):
        pass
    assert not (tmp_path / "sub").exists()
