"""Uncertainty (bench/leaderboard/stats.py): Student t intervals for a mean and for paired or Welch
differences, Holm's correction, and the detectable difference, checked against scipy and by hand."""

from __future__ import annotations

import math

import pytest
import scipy.stats

from bench.leaderboard.stats import PAIRED, WELCH, detectable, difference, holm, summary

from tests.leaderboard.builders import A, B


# --- intervals ---------------------------------------------------------------------------------------


def test_paired_interval_is_scipys_paired_t_interval_matched_by_seed():
    expected = scipy.stats.ttest_rel(A, B).confidence_interval(0.95)
    diffs = [a - b for a, b in zip(A, B)]
    sem = scipy.stats.sem(diffs)
    half = scipy.stats.t.ppf(0.975, len(diffs) - 1) * sem  # by hand: mean ± t(0.975, n-1) · s / √n
    # b's seeds listed in another order: pairing goes by seed number, not by position
    d = difference(dict(enumerate(A)), {s: B[s] for s in (3, 1, 4, 0, 2)})
    assert (d.test, d.n) == (PAIRED, 5)
    assert d.mean == pytest.approx(sum(diffs) / 5)
    assert (d.ci.low, d.ci.high) == (pytest.approx(expected.low), pytest.approx(expected.high))
    assert (d.ci.low, d.ci.high) == (pytest.approx(d.mean - half), pytest.approx(d.mean + half))
    welch = scipy.stats.ttest_ind(A, B, equal_var=False).confidence_interval(0.95)
    assert not math.isclose(d.ci.low, welch.low, rel_tol=1e-3)  # the test can tell pairing from Welch


def test_seeds_that_do_not_match_fall_back_to_welch():
    d = difference(dict(enumerate(A)), {10 + i: b for i, b in enumerate(B)})
    expected = scipy.stats.ttest_ind(A, B, equal_var=False).confidence_interval(0.95)
    assert (d.test, d.n) == (WELCH, 10)
    assert (d.ci.low, d.ci.high) == (pytest.approx(expected.low), pytest.approx(expected.high))


def test_fewer_than_two_pairs_give_no_interval():
    d = difference({0: 95.0}, {0: 90.0})
    assert (d.test, d.n, d.mean, d.ci, d.sign) == (PAIRED, 1, 5.0, None, None)
    assert difference({0: 95.0}, {}) is None


def test_mean_interval_is_the_student_t_interval():
    s = summary(A)
    low, high = scipy.stats.t.interval(0.95, len(A) - 1, loc=s.mean, scale=scipy.stats.sem(A))
    assert (s.n, s.std) == (5, pytest.approx(scipy.stats.tstd(A)))
    assert (s.ci.low, s.ci.high) == (pytest.approx(low), pytest.approx(high))
    assert summary([97.5]).ci is None and summary([]) is None


def test_equal_seeds_give_a_point_interval_without_warnings(recwarn):
    assert summary([100.0, 100.0, 100.0]).ci.low == 100.0
    d = difference({0: 99.0, 1: 98.0}, {0: 98.0, 1: 97.0})
    assert (d.ci.low, d.ci.high, d.sign) == (pytest.approx(1.0), pytest.approx(1.0), 1)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# --- cost and the allocation control -------------------------------------------------------------------


def test_holm_by_hand():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → 0.06 (non-decreasing)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and holm([]) == []


def test_p_values_are_scipys_t_tests():
    a, b = [95.0, 96.5, 94.0, 97.0, 95.5], [93.0, 95.5, 93.5, 95.0, 94.0]
    assert difference(dict(enumerate(a)), dict(enumerate(b))).p == pytest.approx(scipy.stats.ttest_rel(a, b).pvalue)
    welch = difference(dict(enumerate(a)), {10 + i: v for i, v in enumerate(b)})
    assert welch.p == pytest.approx(scipy.stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_intervals_of_a_percentage_stay_within_0_and_100():
    s = summary([100.0, 100.0, 96.0, 100.0])
    assert s.ci.high == 100.0 and s.ci.low < 100.0
    assert scipy.stats.t.interval(0.95, 3, loc=s.mean, scale=scipy.stats.sem([100.0, 100.0, 96.0, 100.0]))[1] > 100


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_the_detectable_difference_has_80_percent_power(n):
    sd = 0.7
    delta = detectable(sd, n)
    crit = scipy.stats.t.ppf(0.975, n - 1)
    shift = delta * math.sqrt(n) / sd
    wrong_side = scipy.stats.nct.cdf(-crit, n - 1, shift)  # negligible, and NaN in scipy that far out
    power = scipy.stats.nct.sf(crit, n - 1, shift) + (0.0 if math.isnan(wrong_side) else wrong_side)
    assert power == pytest.approx(0.8, abs=1e-6)
    # n = 5: 1.682 standard deviations; 400,000 simulated paired t tests at that shift reject 80.0% of the time
    assert detectable(1.0, 5) == pytest.approx(1.682, abs=0.001)
    assert detectable(sd, 1) is None and detectable(0.0, 5) == 0.0
