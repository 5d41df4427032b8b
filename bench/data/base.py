"""What every dataset shares: its spec, the bundle interface, the registry, seeding and the val split."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np
import torch
from torch import Tensor

from bench.core.config import Recipe
from bench.errors import BenchError
from bench.infra.registry import Registry

Batch = tuple[Tensor, Tensor]
Shard = tuple[int, int]  # (rank, world size) of data-parallel training
NO_SHARD: Shard = (0, 1)
SPLITS = ("train", "val", "test")
# Share of the official training set held out as "val": the reported checkpoint is chosen on it,
# so the test split is only ever looked at for the final report.
VAL_FRACTION = 0.1

# Independent random streams, so e.g. calibration batches never coincide with an epoch's order.
TRAIN_STREAM = 0
CALIBRATION_STREAM = 1


class Loader(Protocol):
    def __call__(
        self, spec: DatasetSpec, data_root: Path, *, download: bool, device: torch.device, split_seed: int
    ) -> DataBundle: ...


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    in_channels: int
    input_size: int
    recipe: Recipe
    description: str
    # Called by load_dataset as loader(spec, data_root, download=, device=, split_seed=).
    loader: Loader = field(repr=False, compare=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.input_size, self.input_size)


DATASETS: Registry[DatasetSpec] = Registry("dataset")


class DataBundle(ABC):
    """The splits of one dataset on one device, served as (float32 NCHW, int64 label) batches."""

    spec: DatasetSpec
    sizes: dict[str, int]
    device: torch.device
    split_seed: int = 0  # set by load_dataset; part of every run's identity

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(self.sizes["train"] / check_batch_size(batch_size))

    @abstractmethod
    def train_batches(
        self, batch_size: int, *, seed: int, epoch: int, augment: bool = True, shard: Shard = NO_SHARD
    ) -> Iterator[Batch]:
        """One epoch, shuffled and augmented as a function of (seed, epoch) only; last partial batch kept.
        With `shard=(rank, world)`, samples rank, rank + world, ... of every one of those batches."""

    @abstractmethod
    def eval_batches(self, split: str, batch_size: int, shard: Shard = NO_SHARD) -> Iterator[Batch]:
        """A split in fixed order, without augmentation; with `shard=(rank, world)`, its samples
        rank, rank + world, ... only."""

    @abstractmethod
    def calibration_batches(self, n_batches: int, batch_size: int, *, seed: int) -> list[Batch]:
        """Un-augmented training samples, drawn deterministically from `seed`."""

    @abstractmethod
    def example_inputs(self, batch_size: int = 1) -> Tensor:
        """A correctly shaped input batch on the bundle's device (for tracing, FLOP counts)."""

    def _check_split(self, split: str) -> str:
        if split not in self.sizes:
            raise BenchError(f"unknown split {split!r} of {self.spec.name}; expected one of {', '.join(self.sizes)}")
        return split


def check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise BenchError(f"batch size must be a positive integer, got {batch_size!r}")
    return batch_size


def seeded_generator(*parts: int) -> torch.Generator:
    """A CPU generator seeded from several ints; SeedSequence mixes them so (1, 2) and (2, 1) differ."""
    state = np.random.SeedSequence([p % 2**64 for p in parts]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def calibration_indices(n: int, count: int, generator: torch.Generator) -> Tensor:
    """`count` indices into range(n): whole permutations back to back, so repeats only once all are used."""
    if count <= 0:
        return torch.empty(0, dtype=torch.long)
    perms = [torch.randperm(n, generator=generator) for _ in range(math.ceil(count / n))]
    return torch.cat(perms)[:count]


def _splitmix64(x: np.ndarray) -> np.ndarray:
    # A fixed integer hash rather than an RNG stream: the split must not change with numpy/torch versions.
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (kept, held_out) indices; held_out has round(n * fraction) samples spread evenly over classes.

    Each class is ordered by a seeded hash; the sample at rank r of a class of size c gets the key
    (r + 0.5) / c, and the smallest keys overall are held out. This keeps class proportions without
    sklearn's requirement of >= 2 samples per class (tiny test fixtures), and is exact in total.
    """
    labels = np.asarray(labels)
    n = len(labels)
    k = min(max(round(n * fraction), 1), n - 1) if n >= 2 else 0
    salt = _splitmix64(np.array([seed % 2**64], dtype=np.uint64))[0]
    keys = _splitmix64(np.arange(n, dtype=np.uint64) ^ salt)
    order = np.lexsort((keys, labels))  # by class, then by hash
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    ends = np.searchsorted(sorted_labels, sorted_labels, side="right")
    rank_key = (np.arange(n) - starts + 0.5) / (ends - starts)
    held = order[np.lexsort((keys[order], rank_key))[:k]]
    mask = np.zeros(n, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)
