"""Measured latency and the measured-vs-FLOPs speedup."""

import torch

from bench.core.counting import count
from bench.core.latency import Latency, measure, speedup
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.job import PruneJob


def test_latency_is_positive_and_consistent():
    model = build_model("resnet20", num_classes=10, in_channels=1)
    lat = measure(model, (1, 16, 16), torch.device("cpu"), large_batch=32, warmup=1, repeats=3)
    assert lat.batch1_ms > 0 and lat.large_batch == 32 and lat.large_batch_ms > 0
    assert abs(lat.throughput - 32_000 / lat.large_batch_ms) < 1e-6
    assert model.training  # the mode is restored


def test_structured_pruning_is_measurably_faster():
    """A model with a quarter of the channels in every layer must run faster at a large batch."""
    torch.manual_seed(0)
    dense = build_model("resnet56", num_classes=10, in_channels=3).eval()
    x = torch.zeros(1, 3, 32, 32)
    pruned = PruneJob(dense, "resnet56", get_adapter("l1-norm")(), Target(ratio=0.75),
                      example_inputs=x, calibration=[], seed=0).prune()
    d = measure(dense, (3, 32, 32), torch.device("cpu"), large_batch=64, warmup=1, repeats=4)
    p = measure(pruned.model, (3, 32, 32), torch.device("cpu"), large_batch=64, warmup=1, repeats=4)
    result = speedup(d, p, count(dense, x).flops, count(pruned.model, x).flops)
    assert result["flops_speedup"] > 3
    assert result["measured_speedup"] > 1.3


def test_speedup_arithmetic():
    out = speedup(Latency(1.0, 100, 10.0), Latency(0.5, 100, 5.0), 200, 50)
    assert out == {"measured_speedup": 2.0, "flops_speedup": 4.0, "measured_over_flops": 0.5}


def test_batchnorm_is_folded_for_timing_without_changing_outputs():
    from bench.core.latency import for_inference

    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10, in_channels=1).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    fused, folded = for_inference(model)
    assert folded and not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.randn(4, 1, 16, 16)
    assert torch.allclose(fused(x), model(x), atol=1e-4)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
