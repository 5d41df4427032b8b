"""Property-based fuzzing (hypothesis) of every kind of input the tool reads: each module's tests fuzz its
own parser with `FUZZ` and count the cases they run with `run`. Malformed input must end in a clear
`BenchError`, and whatever parses must be a valid result.

The cases run per input kind are printed at the end of the session (with -s) and, when
PRUNEBENCH_ARTIFACTS is set, written to fuzz_counts.json there (tests/conftest.py)."""

from __future__ import annotations

from collections import Counter
from typing import Callable

from hypothesis import HealthCheck, settings


CASES: Counter = Counter()
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AT_LEAST = 1000  # cases per input kind: fewer means hypothesis gave up early


def count(kind: str) -> None:
    """Call first thing in a fuzzed function: one more case of `kind`."""
    CASES[kind] += 1


def run(kind: str, fuzz: Callable[[], None]) -> None:
    """Run a @given-decorated function that counts its cases as `kind`, and check that enough ran."""
    before = CASES[kind]
    fuzz()
    assert CASES[kind] - before >= AT_LEAST, f"only {CASES[kind] - before} {kind} cases ran"
