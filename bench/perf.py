"""Side-by-side performance ratios (`bench perf`), each measured against its baseline in the same run.

- harness: images/s of `bench.train.train` (LR per step, validation, best-val copy, checkpoint each
  epoch) ÷ a bare minimal PyTorch loop over the same model, batches and batch size;
- data: augmented CIFAR batches/s of the on-device tensor pipeline ÷ a conventional torchvision
  DataLoader with per-sample PIL transforms (how the reference implementations feed CIFAR);
- end to end: one training epoch of the harness ÷ a bare loop fed by that conventional DataLoader;
- speedup: measured ÷ FLOPs speedup of `l1-norm` pruning ResNet-56 to about half its FLOPs.

Data is synthetic but CIFAR-shaped (nothing is downloaded); the numbers are for this machine only.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.checkpoint import Checkpointer
from bench.counting import count
from bench.data import DATASETS, TensorDataBundle
from bench.data.cifar import CIFAR10_FORMAT
from bench.latency import for_inference
from bench.models import build_model
from bench.pruning import Target, get_adapter, parse_compress_rate
from bench.pruning.engine import prune
from bench.train import TrainSpec, train


@dataclass(frozen=True)
class Ratio:
    name: str
    value: float
    target: float
    detail: str

    @property
    def ok(self) -> bool:
        return self.value >= self.target


def synthetic_cifar(n_train: int = 4500, n_eval: int = 500, seed: int = 0) -> TensorDataBundle:
    g = torch.Generator().manual_seed(seed)
    split = lambda n: (torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8), torch.randint(0, 10, (n,), generator=g))  # noqa: E731
    return TensorDataBundle(
        DATASETS.get("cifar10"),
        {"train": split(n_train), "val": split(n_eval), "test": split(n_eval)},
        mean=CIFAR10_FORMAT.mean, std=CIFAR10_FORMAT.std, pad=4, flip=True,
    )


def _bare_loop_seconds(model: nn.Module, epochs: Iterable[Iterable[tuple[torch.Tensor, torch.Tensor]]]) -> float:
    """The minimal loop anyone would write: SGD, forward, loss, backward, step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    model.train()
    start = time.perf_counter()
    for batches in epochs:
        for inputs, labels in batches:
            loss = F.cross_entropy(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def _harness_seconds(model_name: str, data: TensorDataBundle, batch: int, epochs: int) -> float:
    """`bench.train.train` with everything a real run does: validation, best-val copy, checkpoints."""
    torch.manual_seed(0)
    spec = TrainSpec(epochs=epochs, batch_size=batch, lr_at=lambda s: 0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    with tempfile.TemporaryDirectory() as folder:
        model = build_model(model_name, num_classes=10, in_channels=3)
        return train(model, data, spec, seed=0, checkpointer=Checkpointer(folder)).seconds


def _fresh_model(model_name: str) -> nn.Module:
    torch.manual_seed(0)
    return build_model(model_name, num_classes=10, in_channels=3)


def harness_ratio(model_name: str = "resnet20", batch: int = 64, epochs: int = 2) -> Ratio:
    data = synthetic_cifar()
    images = data.sizes["train"] * epochs
    bare = _bare_loop_seconds(_fresh_model(model_name), (data.train_batches(batch, seed=0, epoch=e) for e in range(epochs)))
    harness = _harness_seconds(model_name, data, batch, epochs)
    return Ratio("harness ÷ bare loop (training images/s)", bare / harness, 0.95,
                 f"{model_name}, batch {batch}: harness {images / harness:.0f} img/s (incl. validation and checkpoints), bare {images / bare:.0f} img/s")


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


def end_to_end_ratio(model_name: str = "resnet20", batch: int = 64, workers: int = 2) -> Ratio:
    """One training epoch: the harness (tensor pipeline) ÷ a bare loop fed by DataLoader + PIL."""
    data = synthetic_cifar()
    conventional = _bare_loop_seconds(_fresh_model(model_name), [pil_loader(data, batch, workers)])
    ours = _harness_seconds(model_name, data, batch, 1)
    n = data.sizes["train"]
    return Ratio("harness ÷ conventional DataLoader + PIL training loop (end-to-end images/s)", conventional / ours, 1.0,
                 f"{model_name}, batch {batch}: harness {n / ours:.0f} img/s (incl. validation and checkpoint), conventional {n / conventional:.0f} img/s")


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


# PFEC-style: half the filters of every block's first conv, which removes about half of ResNet-56's FLOPs.
HALF_FLOPS = "[0.]*3+[0.5]*27"


def speedup_ratio(compress_rate: str = HALF_FLOPS, batch: int = 256, repeats: int = 11) -> Ratio:
    """l1-norm on ResNet-56 at about half the FLOPs: does the measured speedup follow the FLOPs?

    Dense and pruned forwards alternate (BatchNorm folded into both, as deployed), so load from
    other processes hits both alike; the speedup is the ratio of the two medians."""
    torch.manual_seed(0)
    dense = build_model("resnet56", num_classes=10, in_channels=3).eval()
    x = torch.zeros(1, 3, 32, 32)
    target = Target(compress_rate=parse_compress_rate(compress_rate))
    pruned = prune(dense, "resnet56", get_adapter("l1-norm")(), target, example_inputs=x, calibration=[], seed=0).model.eval()
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
                 f"{compress_rate}: FLOPs -{100 * (1 - 1 / by_flops):.0f}%, FLOPs speedup {by_flops:.2f}x, "
                 f"measured {measured:.2f}x at batch {batch} (median of {repeats}, interleaved)")


def report(ratios: list[Ratio]) -> str:
    lines = [f"{'ok ' if r.ok else 'LOW'} {r.value:8.2f}  (target ≥ {r.target:g})  {r.name}\n              {r.detail}" for r in ratios]
    threads = torch.get_num_threads()
    return f"prunebench performance ratios ({threads} torch threads, CPU)\n" + "\n".join(lines)

