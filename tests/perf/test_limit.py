"""`bench perf --only limit` (bench/ui/limit.py): the training rate as a fraction of the matmul peak."""

from __future__ import annotations

import pytest


def test_perf_limit_is_the_training_rate_as_a_fraction_of_the_matmul_peak(monkeypatch):
    """No timing assertion (this machine is noisy): the fraction is computed from its parts, which are
    checked here on a fixed peak; the command prints it for both models."""
    from bench.data import load_dataset
    from bench.perf import limit

    found = limit.training_limit("resnet20", load_dataset("digits"), 64, 2, peak=1e12)
    assert found.fraction == pytest.approx(found.images_per_second * found.flops_per_image / 1e12)
    # 3 passes × 2 FLOPs per multiply-add × fvcore's 10,159,744 multiply-adds of ResNet-20 on 16×16 digits
    assert found.flops_per_image == 3 * 2 * 10_159_744
    assert 0 < found.fraction < 1 and "of peak" in found.line()
    assert limit.matmul_peak(n=256, repeats=2) > 0
