"""Executors run a list of jobs and tell the monitor how each ended; the engines do the scheduling.

- `local`: a pool of worker processes on this machine (concurrent.futures + subprocess), one run
  per process, so a crash or an out-of-memory kill takes down one run, not the sweep;
- `ray`: one Ray task per run, on an existing cluster (`--address`) or a local instance;
- `slurm`: one submitit job per run, as a SLURM job array (or submitit's local executor).

Ray and submitit are optional extras; asking for them without the package is a one-line error.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from bench.errors import BenchError
from bench.infra.interrupt import StopFlag
from bench.sweep.job import Job
from bench.sweep.monitor import Monitor

EXECUTORS = ("local", "ray", "slurm")
_EXTRAS = {"ray": ("ray", "Ray"), "slurm": ("submitit", "submitit")}


class Executor(Protocol):
    def run(self, jobs: list[Job], monitor: Monitor, stop: StopFlag) -> None:
        """Run every job (or stop early when `stop.requested`), reporting each to the monitor."""


def require(executor: str):
    """Import the optional package an executor needs, or fail with the install command."""
    module, name = _EXTRAS[executor]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BenchError(f"executor {executor} needs {name}: pip install 'prunebench[{executor}]'") from None


def one_line(text: str) -> str:
    """The last meaningful line of an error or traceback, for the summary (the log has the rest)."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else "failed (no message)"
