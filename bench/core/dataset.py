"""What the training loop trains on: a dataset's spec and its splits served as batches (`DataBundle`).

The types live in the core, which trains on them; the datasets themselves (their registry, loaders and
recipes) are in bench/data/, which builds on these types.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import torch
from torch import Tensor

from bench.core.config import Recipe
from bench.errors import BenchError

Batch = tuple[Tensor, Tensor]
Shard = tuple[int, int]  # (rank, world size) of data-parallel training
NO_SHARD: Shard = (0, 1)


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
