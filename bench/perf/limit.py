"""How close training gets to the machine's limit (`bench perf --only limit`).

The limit is this machine's own fp32 peak as torch reaches it: the best of a few large square
matmuls (2·n³ FLOPs each) on the threads a run uses. Training's achieved rate is its images/s (the
real `bench.core.train.train`, per-epoch validation excluded, median over epochs) × the FLOPs one
training image costs: forward + backward ≈ 3 forwards, and a forward is 2 × fvcore's count (fvcore
counts one multiply-add as one FLOP, the matmul counts two). The fraction is informative, with no
target: small convolutions on small images are far from a matmul's efficiency. Each model is measured
in both memory formats, the default (channels_last) first: the measurement that chose the default.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from bench import defaults
from bench.core.counting import count
from bench.core.hooks import TrainingHook
from bench.core.train import TrainSpec, train
from bench.data import DataBundle, load_dataset
from bench.models import build_model
from bench.perf.perf import synthetic_cifar

TRAINING_PASSES = 3  # forward + backward (two matmuls per layer: inputs' and weights' gradients)
FLOPS_PER_MAC = 2


@dataclass(frozen=True)
class Limit:
    model: str
    inputs: str  # e.g. "digits 1×16×16"
    batch: int
    memory_format: str
    images_per_second: float
    flops_per_image: float  # training FLOPs (multiply and add counted apart)
    peak: float  # FLOP/s of the matmul on the same threads

    @property
    def achieved(self) -> float:
        return self.images_per_second * self.flops_per_image

    @property
    def fraction(self) -> float:
        return self.achieved / self.peak

    def line(self) -> str:
        return (f"{self.fraction:8.1%}  of peak  {self.model} on {self.inputs}, batch {self.batch}: "
                f"{self.memory_format}: {self.images_per_second:.0f} img/s × {self.flops_per_image / 1e6:.1f} MFLOP/img = {self.achieved / 1e9:.2f} GFLOP/s")


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of the best of `repeats` n×n fp32 matmuls (after one warm-up)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


class StepsTimer(TrainingHook):
    """Seconds from an epoch's start (the previous epoch's end, validation included) to its last step."""

    def __init__(self):
        self.seconds: list[float] = []
        self.mark = time.perf_counter()

    def after_epoch(self, model, epoch: int, last: bool) -> None:  # runs before the epoch's validation
        self.seconds.append(time.perf_counter() - self.mark)

    def epoch_done(self, log) -> None:  # the training loop's on_epoch: after validation
        self.mark = time.perf_counter()


def training_limit(model_name: str, data: DataBundle, batch: int, epochs: int, peak: float,
                   memory_format: str = defaults.MEMORY_FORMAT) -> Limit:
    torch.manual_seed(0)
    spec = data.spec
    model = build_model(model_name, num_classes=spec.num_classes, in_channels=spec.in_channels)
    forward = count(model, torch.zeros(1, *spec.input_shape)).flops
    plan = TrainSpec(epochs=epochs, batch_size=batch, lr_at=lambda s: 0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    timer = StepsTimer()
    train(model, data, plan, seed=0, hooks=[timer], on_epoch=timer.epoch_done, memory_format=memory_format)
    seconds = statistics.median(timer.seconds[1:] or timer.seconds)  # the first epoch pays one-time setup
    shape = "×".join(str(d) for d in spec.input_shape)
    return Limit(model_name, f"{spec.name} {shape}", batch, memory_format, data.sizes["train"] / seconds,
                 TRAINING_PASSES * FLOPS_PER_MAC * forward, peak)


def limits(epochs: int = 3) -> list[Limit]:
    """The default model on the default dataset, and ResNet-56 at CIFAR's 32×32 (synthetic images),
    each in every memory format."""
    peak = matmul_peak()
    formats = sorted(defaults.MEMORY_FORMATS, key=lambda f: f != defaults.MEMORY_FORMAT)
    return [
        training_limit(model, data, 64, epochs, peak, memory_format)
        for model, data in (("resnet20", load_dataset("digits")), ("resnet56", synthetic_cifar(n_train=2000, n_eval=200)))
        for memory_format in formats
    ]


def report(found: list[Limit]) -> str:
    threads = torch.get_num_threads()
    peak = found[0].peak if found else matmul_peak()
    head = f"the machine's limit: {peak / 1e9:.1f} GFLOP/s (best 2048² fp32 matmul, {threads} torch threads); training reaches"
    return "\n".join([head, *(f"  {limit.line()}" for limit in found)])
