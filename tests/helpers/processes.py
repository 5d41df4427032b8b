"""The real `bench` command in a subprocess (`python -m bench`), as a user runs it, and its records compared
without the fields that measure time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TIMING_KEYS = {"created", "wall_time_seconds", "seconds", "latency"}


def start_bench(*argv: str, cwd: Path) -> subprocess.Popen:
    """`bench ARGV` started in `cwd`, stdout and stderr piped (text)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_bench(*argv: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """`bench ARGV` run to its end in `cwd`, output captured (text)."""
    return subprocess.run([sys.executable, "-m", "bench", *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def without_timings(obj):
    """A record (or any JSON value) without the fields that measure time: two runs of one spec agree on the rest."""
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj
