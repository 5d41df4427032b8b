"""What every dataset shares: the registry, seeding and the val split (the spec and bundle types are
bench/core/dataset.py's)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from bench.core.dataset import DatasetSpec
from bench.infra.registry import Registry

SPLITS = ("train", "val", "test")
# Share of the official training set held out as "val": the reported checkpoint is chosen on it,
# so the test split is only ever looked at for the final report.
VAL_FRACTION = 0.1

# Independent random streams, so e.g. calibration batches never coincide with an epoch's order.
TRAIN_STREAM = 0
CALIBRATION_STREAM = 1


DATASETS: Registry[DatasetSpec] = Registry("dataset")


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
