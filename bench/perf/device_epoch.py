"""One training epoch under each device option (`bench perf --only epoch`).

The real `bench.core.train.train` of ResNet-56 on synthetic CIFAR-shaped images, on this machine's
training device (the GPU if there is one), once per variant: batch size × torch.compile × precision of
the forward × memory format. On a GPU that is the whole grid a CIFAR-scale run could choose from
(batch 64 and 512, eager and compiled, bf16 autocast and fp32, channels_last and contiguous); on a CPU
only what is practical there (batch 64, eager; both precisions and formats): a CPU compile costs
minutes. Runs use the device's defaults (GPU: bf16, channels_last; CPU: fp32, channels_last); the
other variants say what each default buys, or would.

Each variant trains a fresh model for two epochs and times the second one's training steps
(validation excluded): the first pays cuDNN autotuning, compilation and allocator warm-up.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from bench.core.train import TrainSpec, train
from bench.infra.devices import MEMORY_FORMATS, compile_problem
from bench.models import build_model
from bench.perf.limit import StepsTimer
from bench.perf.perf import synthetic_cifar


@dataclass(frozen=True)
class Variant:
    batch: int
    compile: bool
    precision: str  # "bf16" or "fp32"
    memory_format: str

    def label(self) -> str:
        return f"batch {self.batch:4d}  {'compiled' if self.compile else 'eager':8s}  {self.precision}  {self.memory_format}"


@dataclass(frozen=True)
class EpochTiming:
    model: str
    variant: Variant
    images_per_second: float
    seconds: float  # of the timed epoch's training steps


def variants(device: torch.device) -> list[Variant]:
    """The grid for this device (see the module docstring); compiled variants only where compile works."""
    if device.type != "cuda":
        return [Variant(64, False, p, f) for p, f in itertools.product(("fp32", "bf16"), MEMORY_FORMATS)]
    compiles = (False, True) if compile_problem(device) is None else (False,)
    return [Variant(b, c, p, f) for b, c, p, f in itertools.product((64, 512), compiles, ("bf16", "fp32"), MEMORY_FORMATS)]


def epoch_timings(device: torch.device, n_train: int | None = None, model_name: str = "resnet56",
                  grid: list[Variant] | None = None) -> list[EpochTiming]:
    """Time each variant's second epoch on `n_train` synthetic images (default: CIFAR's 45,000-image
    train split on a GPU, 2,000 on a CPU)."""
    n_train = n_train or (45_000 if device.type == "cuda" else 2_000)
    data = synthetic_cifar(n_train=n_train, n_eval=min(1_000, n_train // 10 or 1), device=device)
    found = []
    for v in grid or variants(device):
        torch.manual_seed(0)
        model = build_model(model_name, num_classes=10, in_channels=3).to(device)
        spec = TrainSpec(epochs=2, batch_size=v.batch, lr_at=lambda step: 0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
        timer = StepsTimer()
        train(model, data, spec, seed=0, hooks=[timer], on_epoch=timer.epoch_done, compile=v.compile,
              memory_format=v.memory_format, precision=v.precision, warn=lambda message: None)
        seconds = timer.seconds[-1]
        found.append(EpochTiming(model_name, v, n_train / seconds, seconds))
    return found


def report(device: torch.device, found: list[EpochTiming]) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    base = found[0].images_per_second if found else 1.0
    model_name = found[0].model if found else "resnet56"
    lines = [f"one {model_name} training epoch on synthetic CIFAR ({name}), second epoch's steps; ×: against the first row"]
    lines += [f"  {t.variant.label():48s} {t.images_per_second:9.0f} img/s  ×{t.images_per_second / base:.2f}" for t in found]
    return "\n".join(lines)
