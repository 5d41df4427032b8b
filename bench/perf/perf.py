"""Side-by-side performance ratios (`bench perf`), each measured against its baseline in the same run.

- harness: training images/s of `bench.core.train.train` (LR set per step, hooks, per-epoch validation,
  best-val copy, checkpoints) ÷ a bare minimal PyTorch loop over the same model, batches, batch size
  and optimizer;
- data: augmented CIFAR batches/s of the on-device tensor pipeline ÷ a conventional torchvision
  DataLoader with per-sample PIL transforms (how the reference implementations feed CIFAR);
- end to end: training images/s of the harness ÷ a bare loop fed by that conventional DataLoader;
- speedup: measured ÷ FLOPs speedup of `l1-norm` pruning ResNet-56 to about half its FLOPs;
- quickstart (opt-in, minutes): wall time of the README's main command, cold and cached.
- epoch (opt-in): one ResNet-56 epoch under each device option (bench/perf/device_epoch.py).

The two training ratios are interleaved epoch by epoch so that load from other processes hits both
sides alike: the harness runs a real `train()` and, in its per-epoch callback, the baseline trains
its own epoch over the same batches, timed apart. The harness's training throughput is timed from
an epoch's start to its last step (per-step LR, hooks, loss kept on the device: all the loop adds
to the steps); the per-epoch validation, best-val copy and checkpoint that follow are work a bare
loop does not do, so they are timed apart and shown, with the ratio they would give if counted.
The end-to-end ratio counts the whole harness epoch. Ratios are medians over epochs. The final test
pass (once per run, however many epochs) is timed and shown separately.

Data is synthetic but CIFAR-shaped (nothing is downloaded); the numbers are for this machine only.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from bench import defaults
from bench.core.checkpoint import Checkpointer
from bench.core.counting import count
from bench.core.hooks import TrainingHook
from bench.core.latency import for_inference
from bench.core.train import TrainSpec, train
from bench.data import DATASETS, TensorDataBundle
from bench.data.cifar import CIFAR10_FORMAT
from bench.errors import BenchError
from bench.infra.devices import MEMORY_FORMATS
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.job import PruneJob


@dataclass(frozen=True)
class Ratio:
    name: str
    value: float
    target: float
    detail: str

    @property
    def ok(self) -> bool:
        return self.value >= self.target


def synthetic_cifar(n_train: int = 4500, n_eval: int = 500, seed: int = 0, device: str | torch.device = "cpu") -> TensorDataBundle:
    g = torch.Generator().manual_seed(seed)
    split = lambda n: (torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8), torch.randint(0, 10, (n,), generator=g))  # noqa: E731
    return TensorDataBundle(
        DATASETS.get("cifar10"),
        {"train": split(n_train), "val": split(n_eval), "test": split(n_eval)},
        mean=CIFAR10_FORMAT.mean, std=CIFAR10_FORMAT.std, pad=4, flip=True, device=device,
    )


class BareLoop:
    """The minimal loop anyone would write: SGD (the harness's settings), forward, loss, backward, step,
    with the model and its batches in `memory_format` (contiguous: as the reference implementations)."""

    def __init__(self, model: nn.Module, memory_format: str = "contiguous"):
        self.format = MEMORY_FORMATS[memory_format]
        self.model = model.to(memory_format=self.format)
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)

    def epoch_seconds(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
        self.model.train()
        start = time.perf_counter()
        for inputs, labels in batches:
            loss = F.cross_entropy(self.model(inputs.contiguous(memory_format=self.format)), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return time.perf_counter() - start


@dataclass(frozen=True)
class Interleaved:
    harness: list[float]  # seconds of each harness epoch (steps, validation, best-val copy, checkpoint when due)
    steps: list[float]  # the part of each harness epoch up to its last optimizer step
    baseline: list[float]  # seconds of each baseline epoch, trained between two harness epochs
    test_pass: float  # the harness's once-per-run end: best weights restored, test split evaluated

    @property
    def ratio(self) -> float:
        """Median over epochs of baseline ÷ whole harness epoch time (= harness ÷ baseline images/s)."""
        return statistics.median(b / h for b, h in zip(self.baseline, self.harness))

    @property
    def training_ratio(self) -> float:
        """The same for the training steps alone (the per-epoch validation left out)."""
        return statistics.median(b / s for b, s in zip(self.baseline, self.steps))

    @property
    def ratio_with_test_pass(self) -> float:
        return sum(self.baseline) / (sum(self.harness) + self.test_pass)


class _StepsDone(TrainingHook):
    """Marks the end of an epoch's training steps (`after_epoch` runs before validation)."""

    def __init__(self, sink: Callable[[], None]):
        self.sink = sink

    def after_epoch(self, model: nn.Module, epoch: int, last: bool) -> None:
        self.sink()


def interleaved(model_name: str, data: TensorDataBundle, batch: int, epochs: int, baseline_epoch: Callable[[int], float]) -> Interleaved:
    """`bench.core.train.train` as every run uses it (a checkpointer with the default cadence and the
    default memory format included), with `baseline_epoch(e)` called, and timed apart, after each of its
    epochs."""
    spec = TrainSpec(epochs=epochs, batch_size=batch, lr_at=lambda s: 0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    harness: list[float] = []
    steps: list[float] = []
    baseline: list[float] = []
    mark = [0.0]

    def on_epoch(log) -> None:
        harness.append(time.perf_counter() - mark[0])
        baseline.append(baseline_epoch(log.epoch))
        mark[0] = time.perf_counter()

    steps_done = _StepsDone(lambda: steps.append(time.perf_counter() - mark[0]))

    _warm_up(model_name, data, batch)
    with tempfile.TemporaryDirectory() as folder:
        model = _fresh_model(model_name)
        mark[0] = time.perf_counter()
        train(model, data, spec, seed=0, hooks=[steps_done], on_epoch=on_epoch, checkpointer=Checkpointer(folder),
              memory_format=defaults.MEMORY_FORMAT)
        test_pass = time.perf_counter() - mark[0]
    return Interleaved(harness, steps, baseline, test_pass)


def _warm_up(model_name: str, data: TensorDataBundle, batch: int) -> None:
    """One step on a throwaway model, so neither side's first epoch pays the kernels' one-time setup."""
    inputs, labels = next(iter(data.train_batches(batch, seed=1, epoch=0)))
    layout = MEMORY_FORMATS[defaults.MEMORY_FORMAT]  # the format both sides train in
    model = _fresh_model(model_name).to(memory_format=layout).train()
    F.cross_entropy(model(inputs.contiguous(memory_format=layout)), labels).backward()


def _fresh_model(model_name: str) -> nn.Module:
    torch.manual_seed(0)
    return build_model(model_name, num_classes=10, in_channels=3)


def harness_ratio(model_name: str = "resnet20", batch: int = 64, epochs: int = 5) -> Ratio:
    data = synthetic_cifar()
    bare = BareLoop(_fresh_model(model_name), defaults.MEMORY_FORMAT)  # the same work as the harness's steps
    result = interleaved(model_name, data, batch, epochs, lambda e: bare.epoch_seconds(data.train_batches(batch, seed=0, epoch=e)))
    validation = [h - s for h, s in zip(result.harness, result.steps)]
    detail = (_detail(model_name, batch, data, result, "bare", result.steps)
              + f"; per-epoch validation, best-val copy and checkpoint {statistics.median(validation):.2f} s "
              f"(ratio with them counted: {result.ratio:.2f})")
    return Ratio("harness ÷ bare loop (training images/s)", result.training_ratio, 0.95, detail)


def _detail(model_name: str, batch: int, data: TensorDataBundle, result: Interleaved, baseline: str, harness: list[float]) -> str:
    n = data.sizes["train"]
    per_epoch = lambda times: "/".join(f"{n / t:.0f}" for t in times)  # noqa: E731
    return (f"{model_name}, batch {batch}, {len(result.harness)} interleaved epochs of {n} images (+{data.sizes['val']} validation): "
            f"harness {per_epoch(harness)} img/s, {baseline} {per_epoch(result.baseline)} img/s; "
            f"final test pass {result.test_pass:.2f} s (ratio with it counted: {result.ratio_with_test_pass:.2f})")


class _PilCifar(torch.utils.data.Dataset):
    """The conventional pipeline: uint8 HWC arrays → PIL → torchvision transforms, one sample at a time."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        import torchvision.transforms as T

        self.images, self.labels = images, labels
        self.transform = T.Compose([
            T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
            T.Normalize(CIFAR10_FORMAT.mean, CIFAR10_FORMAT.std),
        ])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def pil_loader(data: TensorDataBundle, batch: int, workers: int = 2) -> torch.utils.data.DataLoader:
    """The same training images as `data`, served the way the reference implementations feed CIFAR."""
    images = data._images["train"].permute(0, 2, 3, 1).contiguous().numpy()
    dataset = _PilCifar(images, data._labels["train"].numpy())
    return torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers)


def end_to_end_ratio(model_name: str = "resnet20", batch: int = 64, workers: int = 2, epochs: int = 3) -> Ratio:
    """Training images/s: the harness (tensor pipeline) ÷ a bare loop fed by DataLoader + PIL."""
    data = synthetic_cifar()
    loader = pil_loader(data, batch, workers)
    conventional = BareLoop(_fresh_model(model_name))
    result = interleaved(model_name, data, batch, epochs, lambda e: conventional.epoch_seconds(loader))
    return Ratio("harness ÷ conventional DataLoader + PIL training loop (end-to-end images/s)", result.ratio, 1.0,
                 _detail(model_name, batch, data, result, f"conventional ({workers} workers)", result.harness))


def data_ratio(batch: int = 64, workers: int = 2) -> Ratio:
    data = synthetic_cifar()
    n_batches = data.steps_per_epoch(batch)
    start = time.perf_counter()
    for _ in data.train_batches(batch, seed=0, epoch=0):
        pass
    ours = n_batches / (time.perf_counter() - start)

    loader = pil_loader(data, batch, workers)
    start = time.perf_counter()
    for _ in loader:
        pass
    conventional = len(loader) / (time.perf_counter() - start)
    return Ratio("tensor pipeline ÷ DataLoader + PIL (augmented batches/s)", ours / conventional, 10.0,
                 f"batch {batch}: ours {ours:.0f} batches/s, torchvision DataLoader ({workers} workers) {conventional:.1f} batches/s")


# PFEC's layout (block-internal) at ratio 0.5: half the filters of every block's first conv, which
# removes about half of ResNet-56's FLOPs.
HALF_FLOPS = 0.5


def speedup_ratio(ratio: float = HALF_FLOPS, batch: int = 256, repeats: int = 11) -> Ratio:
    """l1-norm on ResNet-56 at about half the FLOPs: does the measured speedup follow the FLOPs?

    Dense and pruned forwards alternate (BatchNorm folded into both, as deployed), so load from
    other processes hits both alike; the speedup is the ratio of the two medians."""
    torch.manual_seed(0)
    dense = build_model("resnet56", num_classes=10, in_channels=3).eval()
    x = torch.zeros(1, 3, 32, 32)
    target = Target(ratio=ratio)
    pruned = PruneJob(dense, "resnet56", get_adapter("l1-norm")(), target, example_inputs=x).prune().model.eval()
    by_flops = count(dense, x).flops / count(pruned, x).flops
    models = [for_inference(dense)[0], for_inference(pruned)[0]]
    inputs = torch.zeros(batch, 3, 32, 32)
    times: list[list[float]] = [[], []]
    with torch.inference_mode():
        for model in models:  # warm-up
            model(inputs)
        for _ in range(repeats):
            for model, sink in zip(models, times):
                start = time.perf_counter()
                model(inputs)
                sink.append(time.perf_counter() - start)
    measured = statistics.median(times[0]) / statistics.median(times[1])
    return Ratio("measured ÷ FLOPs speedup (l1-norm, ResNet-56, CPU)", measured / by_flops, 0.7,
                 f"ratio {ratio:g} (block-internal): FLOPs -{100 * (1 - 1 / by_flops):.0f}%, FLOPs speedup {by_flops:.2f}x, "
                 f"measured {measured:.2f}x at batch {batch} (median of {repeats}, interleaved)")


# The README's main command; `bench perf --only quickstart` times it in a fresh folder, twice.
QUICKSTART = ("evaluate", "--adapter", "hrankplus", "--protocol", "clr-90")


@dataclass(frozen=True)
class QuickstartTimes:
    argv: tuple[str, ...]
    cold: float  # an empty folder: the dense baseline and every run are trained
    cached: float  # the same command again: everything is reused

    def report(self) -> str:
        return (f"quick start: `bench {' '.join(self.argv)}` in a fresh folder ({torch.get_num_threads()} torch threads, CPU)\n"
                f"  cold   {self.cold:8.1f} s  (empty runs dir: dense baseline and every run trained)\n"
                f"  cached {self.cached:8.1f} s  (the same command again: baseline and finished runs reused)")


def quickstart(argv: Sequence[str] = QUICKSTART, folder: str | Path | None = None) -> QuickstartTimes:
    """Wall time of `bench <argv>` run as a user runs it (a new process) in an empty working folder
    (a temporary one unless `folder` is given), then once more in the same folder."""
    with tempfile.TemporaryDirectory(prefix="bench-quickstart-") as tmp:
        where = Path(folder) if folder is not None else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        cold = _cli_seconds(argv, where)
        cached = _cli_seconds(argv, where)
    return QuickstartTimes(tuple(argv), cold, cached)


def _cli_seconds(argv: Sequence[str], cwd: Path) -> float:
    env = dict(os.environ)
    source = str(Path(__file__).resolve().parents[2])  # this very `bench`, installed or not
    env["PYTHONPATH"] = source + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"`bench {' '.join(argv)}` failed with exit code {proc.returncode}: {last}")
    return seconds


def report(ratios: list[Ratio]) -> str:
    lines = [f"{'ok ' if r.ok else 'LOW'} {r.value:8.2f}  (target ≥ {r.target:g})  {r.name}\n              {r.detail}" for r in ratios]
    threads = torch.get_num_threads()
    return f"prunebench performance ratios ({threads} torch threads, CPU)\n" + "\n".join(lines)

