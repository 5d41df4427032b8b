"""Uncertainty: 95% Student t intervals (scipy.stats) for a mean over seeds and for a difference of
two sets of per-seed results, and the sign of a difference that its interval supports.

A difference is *paired by seed* when at least two seeds finished in both sets (the same seed number
means the same data order): the paired t interval of the mean per-seed difference. Otherwise, when
each set has at least two finished seeds, Welch's t interval of the difference of the means. With
fewer seeds there is no interval.
"""

from __future__ import annotations

import statistics
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

CONFIDENCE = 0.95
PAIRED = "paired t"
WELCH = "Welch t"

METHOD = (
    "Each entry's top-1 is the mean ± sample standard deviation over its n seeds, with the 95% Student t "
    "confidence interval of the mean. Δ random is paired by seed: the method's top-1 minus its own random "
    "control's on the same seed (same data order), over the seeds that finished in both arms, with the 95% "
    "paired t interval of the mean difference (scipy.stats). Verdict: beats its random control when the "
    "whole interval lies above 0, beaten by random when it lies below 0, tied when it contains 0, and "
    "n too small with fewer than 2 pairs (no interval). Each interval is 95% on its own: among many truly "
    "tied comparisons, about 1 in 20 gets a verdict by chance."
)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    @property
    def sign(self) -> int:
        """+1 entirely above 0, -1 entirely below 0, 0 when it contains 0."""
        return 1 if self.low > 0 else -1 if self.high < 0 else 0


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float | None  # None for one seed
    ci: Interval | None  # None for one seed


@dataclass(frozen=True)
class Difference:
    mean: float  # first minus second, in top-1 points
    n: int  # pairs (paired) or seeds in both sets together (Welch)
    test: str  # PAIRED or WELCH
    ci: Interval | None  # None: too few seeds for an interval

    @property
    def sign(self) -> int | None:
        return None if self.ci is None else self.ci.sign


@contextmanager
def _quiet():
    # scipy warns about precision loss when every value is equal (e.g. all seeds at 100%); its interval
    # is still right there: a single point.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _mean_ci(values: list[float]) -> Interval:
    from scipy.stats import (
        ttest_1samp,  # scipy is slow to import; loaded only when a leaderboard is built
    )

    with _quiet():
        ci = ttest_1samp(values, 0.0).confidence_interval(CONFIDENCE)
    return Interval(float(ci.low), float(ci.high))


def _welch_ci(a: list[float], b: list[float]) -> Interval:
    from scipy.stats import ttest_ind

    with _quiet():
        ci = ttest_ind(a, b, equal_var=False).confidence_interval(CONFIDENCE)
    return Interval(float(ci.low), float(ci.high))


def summary(values: list[float]) -> Summary | None:
    if not values:
        return None
    if len(values) == 1:
        return Summary(1, values[0], None, None)
    return Summary(len(values), statistics.fmean(values), statistics.stdev(values), _mean_ci(values))


def difference(a: dict[int, float], b: dict[int, float]) -> Difference | None:
    """`a` minus `b`, each {seed: top-1} of the seeds that finished; None when either is empty."""
    if not a or not b:
        return None
    common = sorted(set(a) & set(b))
    welch = min(len(a), len(b)) >= 2
    # One common seed still gives a (paired, interval-less) difference when Welch has nothing better.
    if len(common) >= 2 or (common and not welch):
        diffs = [a[s] - b[s] for s in common]
        ci = _mean_ci(diffs) if len(diffs) >= 2 else None
        return Difference(statistics.fmean(diffs), len(diffs), PAIRED, ci)
    xs, ys = list(a.values()), list(b.values())
    ci = _welch_ci(xs, ys) if welch else None
    return Difference(statistics.fmean(xs) - statistics.fmean(ys), len(xs) + len(ys), WELCH, ci)
