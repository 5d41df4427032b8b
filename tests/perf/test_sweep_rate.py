"""`bench perf --only sweep` (bench/ui/sweep_rate.py): runs per hour of a real sweep with K runs at once."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_perf_sweep_reports_runs_per_hour_for_each_k():
    """No timing assertion: the rate is the real sweep's, from its parts."""
    from bench.perf import sweep_rate

    rates = sweep_rate.sweep_rates(per_device=(1,), ratios=(0.5,))
    (rate,) = rates
    assert rate.per_device == 1 and rate.runs == 1 and rate.runs_per_hour == pytest.approx(3600 / rate.seconds)
    assert "K = 1:" in sweep_rate.report(rates) and "runs/hour" in sweep_rate.report(rates)
