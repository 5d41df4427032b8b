"""Uncertainty: 95% Student t intervals (scipy.stats) for a mean over seeds and for a difference of
two sets of per-seed results, the sign of a difference that its interval supports, its t test's
p-value, Holm's correction of a family of them, and the smallest difference n paired seeds detect.

A difference is *paired by seed* when at least two seeds finished in both sets (the same seed number
means the same data order): the paired t interval of the mean per-seed difference. Otherwise, when
each set has at least two finished seeds, Welch's t interval of the difference of the means. With
fewer seeds there is no interval. Intervals are clipped to what a percentage can be: [0, 100] for a
top-1, [-100, 100] for a difference of two.
"""

from __future__ import annotations

import statistics
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE  # the two-sided level of every test, before and after Holm's correction
POWER = 0.8  # of the smallest detectable difference
PAIRED = "paired t"
WELCH = "Welch t"

METHOD = (
    "Each entry's top-1 is the mean ± sample standard deviation over its n seeds, with the 95% Student t "
    "confidence interval of the mean. Δ random is paired by seed: the method's top-1 minus its own random "
    "control's on the same seed (same data order), over the seeds that finished in both arms, with the 95% "
    "paired t interval of the mean difference (scipy.stats). Verdict: beats its random control when the "
    "whole interval lies above 0, beaten by random when it lies below 0, tied when it contains 0, and "
    "n too small with fewer than 2 pairs (no interval). An interval of a top-1 is clipped to [0, 100]. "
    "Each interval is 95% on its own: among many truly tied comparisons about 1 in 20 gets a verdict by "
    "chance, so each family of tests is also corrected (Holm) and every verdict says whether it holds after "
    "Holm."
)
HOLM = (
    "The tests form three families: (a) every method against its own random control, "
    "across the whole leaderboard; (b) claim 1; (c) claim 2. Within each family the t tests' p-values are "
    "corrected with Holm's step-down method (adjusted p = max over the j smaller p of (m − j + 1) · p, m "
    "tests), and a verdict holds after Holm when its adjusted p is below 0.05. Holm bounds the family-wise "
    "error rate: the chance that even one verdict of the family is wrong stays at 5%, which is what a reader "
    "picking any single verdict off these pages needs (a false-discovery rate would let 1 in 20 of the "
    "published verdicts be wrong), and unlike Bonferroni it loses little power. The raw 95% interval is "
    "still shown beside each verdict."
)
DETECTABLE = (
    "Detectable difference: the smallest true mean difference from the random control that a two-sided "
    "paired t test at α = 0.05 finds with 80% power, with the table's n seeds and its observed paired "
    "spread (the pooled standard deviation of the per-seed differences; scipy.stats.nct). Saturated: every "
    "method of the table lies within that of its random control and none beats or trails it after Holm."
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
    p: float | None = None  # the t test's two-sided p-value; None without an interval
    sd: float | None = None  # of the per-seed differences (paired, 2 pairs or more)

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


def _interval(result, low: float, high: float) -> Interval:
    ci = result.confidence_interval(CONFIDENCE)
    return Interval(min(max(float(ci.low), low), high), max(min(float(ci.high), high), low))


def _p(result) -> float:
    p = float(result.pvalue)
    return 1.0 if p != p else p  # NaN: every difference is 0, no evidence of one


def _mean_test(values: list[float], low: float = 0.0, high: float = 100.0) -> tuple[Interval, float]:
    from scipy.stats import (
        ttest_1samp,  # scipy is slow to import; loaded only when a leaderboard is built
    )

    with _quiet():
        result = ttest_1samp(values, 0.0)
        return _interval(result, low, high), _p(result)


def _welch_test(a: list[float], b: list[float]) -> tuple[Interval, float]:
    from scipy.stats import ttest_ind

    with _quiet():
        result = ttest_ind(a, b, equal_var=False)
        return _interval(result, -100.0, 100.0), _p(result)


def summary(values: list[float]) -> Summary | None:
    if not values:
        return None
    if len(values) == 1:
        return Summary(1, values[0], None, None)
    return Summary(len(values), statistics.fmean(values), statistics.stdev(values), _mean_test(values)[0])


def difference(a: dict[int, float], b: dict[int, float]) -> Difference | None:
    """`a` minus `b`, each {seed: top-1} of the seeds that finished; None when either is empty."""
    if not a or not b:
        return None
    common = sorted(set(a) & set(b))
    welch = min(len(a), len(b)) >= 2
    # One common seed still gives a (paired, interval-less) difference when Welch has nothing better.
    if len(common) >= 2 or (common and not welch):
        diffs = [a[s] - b[s] for s in common]
        if len(diffs) < 2:
            return Difference(statistics.fmean(diffs), 1, PAIRED, None)
        ci, p = _mean_test(diffs, -100.0, 100.0)
        return Difference(statistics.fmean(diffs), len(diffs), PAIRED, ci, p, statistics.stdev(diffs))
    xs, ys = list(a.values()), list(b.values())
    ci, p = _welch_test(xs, ys) if welch else (None, None)
    return Difference(statistics.fmean(xs) - statistics.fmean(ys), len(xs) + len(ys), WELCH, ci, p)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p times (m − i + 1),
    made non-decreasing along that order and capped at 1."""
    m = len(pvalues)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def pooled_sd(diffs: list[Difference]) -> float | None:
    """The pooled standard deviation of per-seed differences over paired comparisons (df-weighted)."""
    paired = [d for d in diffs if d.sd is not None]
    df = sum(d.n - 1 for d in paired)
    return (sum((d.n - 1) * d.sd**2 for d in paired) / df) ** 0.5 if df else None


def detectable(sd: float, n: int) -> float | None:
    """The smallest true mean difference that a two-sided paired t test at ALPHA finds with POWER,
    from n pairs whose differences spread by `sd` (the noncentral t's power; None below 2 pairs)."""
    if n < 2:
        return None
    if sd == 0:
        return 0.0
    from scipy.optimize import brentq
    from scipy.stats import nct, t

    df, crit = n - 1, float(t.ppf(1 - ALPHA / 2, n - 1))

    def shortfall(shift: float) -> float:  # power at noncentrality `shift`, minus the target
        wrong_side = float(nct.cdf(-crit, df, shift))  # negligible; scipy gives NaN far in that tail
        return float(nct.sf(crit, df, shift)) + (wrong_side if wrong_side == wrong_side else 0.0) - POWER

    return brentq(shortfall, 0.0, 64.0) * sd / n**0.5
