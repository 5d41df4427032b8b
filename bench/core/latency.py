"""Measured inference speed, so a pruner's value is shown in time and not only in FLOPs.

Latency is the median over repeats of one forward pass (after warm-up) at batch 1 and at a large
batch, on the run's device, in inference mode, with BatchNorm folded into the convs. Unstructured masks are not exploited by dense
kernels, so a masked model is timed as it runs: its measured speedup is honestly about 1.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn as nn

LARGE_BATCH = 256


@dataclass(frozen=True)
class Latency:
    batch1_ms: float
    large_batch: int
    large_batch_ms: float
    bn_folded: bool = False

    @property
    def throughput(self) -> float:
        """Images per second at the large batch."""
        return 1000.0 * self.large_batch / self.large_batch_ms

    def to_dict(self) -> dict:
        return {
            "batch1_ms": round(self.batch1_ms, 4),
            "large_batch": self.large_batch,
            "large_batch_ms": round(self.large_batch_ms, 4),
            "throughput_images_per_s": round(self.throughput, 2),
            "bn_folded": self.bn_folded,
        }


def _median_ms(model: nn.Module, inputs: torch.Tensor, warmup: int, repeats: int) -> float:
    sync = torch.cuda.synchronize if inputs.is_cuda else (lambda: None)
    for _ in range(warmup):
        model(inputs)
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(inputs)
        sync()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def for_inference(model: nn.Module) -> tuple[nn.Module, bool]:
    """A copy with every BatchNorm folded into the conv before it (torch.fx), as any deployment does;
    the model itself when fx cannot trace it. Dense and pruned models get the same treatment."""
    from torch.fx.experimental.optimization import fuse

    try:
        return fuse(model), True
    except Exception:  # fx cannot trace every model (data-dependent control flow): time it as it is
        return model, False


@torch.inference_mode()
def measure(model: nn.Module, input_shape: tuple[int, ...], device: torch.device, *, large_batch: int = LARGE_BATCH,
            warmup: int = 5, repeats: int = 20) -> Latency:
    was_training = model.training
    model.eval()
    try:
        runnable, folded = for_inference(model)
        one = torch.zeros(1, *input_shape, device=device)
        many = torch.zeros(large_batch, *input_shape, device=device)
        return Latency(
            batch1_ms=_median_ms(runnable, one, warmup, repeats),
            large_batch=large_batch,
            large_batch_ms=_median_ms(runnable, many, max(1, warmup // 2), max(3, repeats // 4)),
            bn_folded=folded,
        )
    finally:
        model.train(was_training)


def speedup(dense: Latency, pruned: Latency, dense_flops: int, pruned_flops: int) -> dict:
    """Measured speedup at the large batch, the FLOPs speedup, and their ratio (1.0 = FLOPs tell the truth)."""
    measured = dense.large_batch_ms / pruned.large_batch_ms
    by_flops = dense_flops / max(pruned_flops, 1)
    return {
        "measured_speedup": round(measured, 4),
        "flops_speedup": round(by_flops, 4),
        "measured_over_flops": round(measured / by_flops, 4),
    }
