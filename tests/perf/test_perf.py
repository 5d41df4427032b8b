"""`bench perf` (bench/perf/perf.py): its ratios against their baselines, and the quickstart timing."""

from __future__ import annotations

import statistics

import pytest

from bench.errors import BenchError
from bench.perf import perf
from bench.ui.cli import main


pytestmark = pytest.mark.usefixtures("one_thread")


def test_perf_quickstart_is_opt_in_and_prints_both_times(monkeypatch, capsys):
    monkeypatch.setattr(perf, "quickstart", lambda: perf.QuickstartTimes(perf.QUICKSTART, 281.0, 9.0))
    assert main(["perf", "--only", "quickstart"]) == 0
    out = capsys.readouterr().out
    assert "bench evaluate --adapter hrankplus --protocol clr-90" in out
    assert "cold" in out and "281.0 s" in out and "cached" in out and "9.0 s" in out


def test_quickstart_times_a_command_twice_in_one_fresh_folder(tmp_path):
    """The plumbing, with a cheap command (the real one takes minutes: tests/benchmarks has it)."""
    times = perf.quickstart(["list", "protocols"], folder=tmp_path / "work")
    assert times.cold > 0 and times.cached > 0 and "bench list protocols" in times.report()
    with pytest.raises(BenchError, match="exit code 2"):
        perf.quickstart(["list", "no-such-kind"], folder=tmp_path / "bad")


def test_interleaved_times_the_training_steps_apart_from_validation():
    data = perf.synthetic_cifar(n_train=128, n_eval=64)
    result = perf.interleaved("resnet20", data, 64, 2, lambda epoch: 0.01)
    assert len(result.steps) == len(result.harness) == len(result.baseline) == 2
    assert all(0 < s < h for s, h in zip(result.steps, result.harness))  # validation comes after the steps
    assert result.training_ratio == pytest.approx(statistics.median(0.01 / s for s in result.steps))
    assert result.training_ratio > result.ratio


def test_perf_prints_a_ratio_against_its_baseline(cli):
    """No timing assertion here (this machine is noisy): the targets live in `bench perf` itself."""
    code, out, _ = cli("perf", "--only", "data")
    assert code in (0, 1)
    assert "tensor pipeline ÷ DataLoader + PIL" in out and "target ≥ 10" in out and "batches/s" in out
