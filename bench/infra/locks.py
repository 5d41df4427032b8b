"""Cross-process exclusion for work that must happen once: a dense baseline, a retraining run, a
sweep run. A second process that needs the same thing waits, says so in one line, then reuses it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from filelock import FileLock, Timeout

from bench.infra import distributed
from bench.infra.progress import Reporter


@contextlib.contextmanager
def exclusive(lock_path: Path, reporter: Reporter, waiting_message: str):
    """Hold `lock_path` (filelock) for the block, announcing when we have to wait. Under torchrun rank 0
    holds it for all ranks (they follow rank 0's decisions)."""
    if not distributed.is_main():
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        reporter.message(waiting_message)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
