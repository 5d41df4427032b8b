"""`imagenet`: ImageFolder layout decoded by DataLoader workers (too large to hold in memory).

Layout: <root>/imagenet/train/<class>/*.JPEG and <root>/imagenet/val/<class>/*.JPEG. Our "val"
split is carved out of train; the official val folder serves as "test".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from bench.core.config import Recipe
from bench.core.dataset import NO_SHARD, Batch, DataBundle, DatasetSpec, Shard, check_batch_size
from bench.data.base import (
    CALIBRATION_STREAM,
    DATASETS,
    TRAIN_STREAM,
    VAL_FRACTION,
    calibration_indices,
    seeded_generator,
    stratified_split,
)
from bench.errors import BenchError

# torchvision's reference recipe, the one its pretrained weights were trained with.
IMAGENET_RECIPE = Recipe(
    epochs=90, lr=0.1, milestones=(1 / 3, 2 / 3), gamma=0.1, batch_size=256,
    momentum=0.9, nesterov=True, weight_decay=1e-4,
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_SIZE = 224
IMAGENET_RESIZE = 256

Sample = tuple[str, int]


def train_transform() -> Callable[[Any], Tensor]:
    from torchvision import transforms as T

    return T.Compose([
        T.RandomResizedCrop(IMAGENET_SIZE),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def eval_transform() -> Callable[[Any], Tensor]:
    from torchvision import transforms as T

    return T.Compose([
        T.Resize(IMAGENET_RESIZE), T.CenterCrop(IMAGENET_SIZE), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    ])


class FileDataset(Dataset):
    """(path, label) samples through a transform.

    A key may be `(index, seed)`: the transform's randomness is then seeded per sample, so an epoch's
    augmentation depends on (seed, epoch) only, not on the number of workers or which one ran it.
    """

    def __init__(self, samples: list[Sample], transform: Callable[[Any], Tensor]):
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, int]:
        from torchvision.datasets.folder import default_loader

        index, seed = key if isinstance(key, tuple) else (key, None)
        path, label = self.samples[index]
        image = default_loader(path)
        if seed is None:
            return self.transform(image), label
        # torchvision transforms draw from the global RNG: reseed it, but never the main process's.
        with torch.random.fork_rng(devices=[], enabled=torch.utils.data.get_worker_info() is None):
            torch.default_generator.manual_seed(seed)  # CPU only: leaves CUDA generators alone
            return self.transform(image), label


def default_num_workers() -> int:
    return min(8, os.cpu_count() or 1)


class FolderDataBundle(DataBundle):
    def __init__(
        self,
        spec: DatasetSpec,
        splits: dict[str, list[Sample]],
        *,
        device: str | torch.device = "cpu",
        num_workers: int | None = None,
    ):
        self.spec = spec
        self.device = torch.device(device)
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self._samples = splits
        self.sizes = {name: len(s) for name, s in splits.items()}
        self._train_tf, self._eval_tf = train_transform(), eval_transform()

    def _loader(self, dataset: Dataset, batch_size: int, sampler: Any, generator: torch.Generator, shard: Shard = NO_SHARD) -> Iterator[Batch]:
        rank, world = shard
        keys = list(sampler)
        # Global batches of the key list, each cut to this rank's slice (only that part is decoded).
        batches = [keys[start + rank : start + batch_size : world] for start in range(0, len(keys), batch_size)]
        loader = DataLoader(
            dataset,
            batch_sampler=batches,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            # Also seeds the workers; without it DataLoader would draw from (and so disturb) the global RNG.
            generator=generator,
        )
        non_blocking = self.device.type == "cuda"
        for x, y in loader:
            yield x.to(self.device, non_blocking=non_blocking), y.to(self.device, non_blocking=non_blocking)

    def train_batches(
        self, batch_size: int, *, seed: int, epoch: int, augment: bool = True, shard: Shard = NO_SHARD
    ) -> Iterator[Batch]:
        check_batch_size(batch_size)
        g = seeded_generator(TRAIN_STREAM, seed, epoch)
        n = self.sizes["train"]
        perm = torch.randperm(n, generator=g).tolist()
        sample_seeds = torch.randint(0, 2**62, (n,), generator=g).tolist()
        dataset = FileDataset(self._samples["train"], self._train_tf if augment else self._eval_tf)
        return self._loader(dataset, batch_size, list(zip(perm, sample_seeds)), g, shard)

    def eval_batches(self, split: str, batch_size: int, shard: Shard = NO_SHARD) -> Iterator[Batch]:
        self._check_split(split)
        check_batch_size(batch_size)
        dataset = FileDataset(self._samples[split], self._eval_tf)
        rank, world = shard
        return self._loader(dataset, batch_size, range(rank, len(dataset), world), seeded_generator(0))

    def calibration_batches(self, n_batches: int, batch_size: int, *, seed: int) -> list[Batch]:
        check_batch_size(batch_size)
        if n_batches < 0:
            raise BenchError(f"number of calibration batches must be >= 0, got {n_batches}")
        g = seeded_generator(CALIBRATION_STREAM, seed)
        idx = calibration_indices(self.sizes["train"], n_batches * batch_size, g).tolist()
        if not idx:
            return []
        dataset = FileDataset(self._samples["train"], self._eval_tf)
        return list(self._loader(dataset, batch_size, idx, g))

    def example_inputs(self, batch_size: int = 1) -> Tensor:
        """Zeros: decoding real JPEGs just to get a shape is not worth it."""
        check_batch_size(batch_size)
        return torch.zeros(batch_size, *self.spec.input_shape, device=self.device)


def _missing(root: Path, detail: str) -> BenchError:
    return BenchError(
        f"ImageNet not found: {detail}; expected {root / 'train'} and {root / 'val'} with one folder per class "
        "(set --data-root or BENCH_DATA; ImageNet cannot be downloaded automatically)"
    )


def scan_folder(path: Path, root: Path) -> tuple[list[str], list[Sample]]:
    """Class names and (path, label) samples of one ImageFolder directory."""
    from torchvision.datasets import ImageFolder

    if not path.is_dir():
        raise _missing(root, f"no folder {path}")
    try:
        folder = ImageFolder(str(path))
    except (FileNotFoundError, OSError) as e:  # no class folders, or no images in them
        raise _missing(root, " ".join(str(e).split())) from None
    return folder.classes, folder.samples


def _load(
    spec: DatasetSpec, data_root: Path, *, download: bool, device: torch.device, split_seed: int
) -> FolderDataBundle:
    # download is ignored: ImageNet's licence requires fetching it by hand (the error message says so).
    root = data_root / "imagenet"
    classes, train = scan_folder(root / "train", root)
    test_classes, test = scan_folder(root / "val", root)
    if classes != test_classes:
        raise BenchError(f"ImageNet class folders differ between {root / 'train'} and {root / 'val'}")
    if len(classes) > spec.num_classes:
        raise BenchError(f"{root / 'train'} has {len(classes)} class folders; ImageNet has {spec.num_classes}")
    keep, val = stratified_split(np.array([label for _, label in train]), VAL_FRACTION, split_seed)
    splits = {"train": [train[i] for i in keep], "val": [train[i] for i in val], "test": test}
    return FolderDataBundle(spec, splits, device=device)


IMAGENET = DatasetSpec(
    name="imagenet",
    num_classes=1000,
    in_channels=3,
    input_size=IMAGENET_SIZE,
    recipe=IMAGENET_RECIPE,
    description="ImageNet-1k (ILSVRC 2012) from an ImageFolder tree; must be provided locally",
    loader=_load,
)
DATASETS.add(IMAGENET.name, IMAGENET)
