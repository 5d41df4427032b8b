"""Datasets: a registry of specs and `load_dataset`, which returns a `DataBundle` of seeded batches.

Importing this package registers the built-in datasets: digits (the default; offline), cifar10,
cifar100 and imagenet.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from bench.core.dataset import Batch, DataBundle, DatasetSpec  # the types, re-exported for the data's users
from bench.data import cifar, digits, imagenet  # noqa: F401  (registers the datasets)
from bench.data.base import DATASETS, SPLITS, VAL_FRACTION, stratified_split
from bench.data.imagenet import FolderDataBundle
from bench.data.tensor_bundle import TensorDataBundle

DEFAULT_DATASET = "digits"

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "SPLITS",
    "VAL_FRACTION",
    "Batch",
    "DataBundle",
    "DatasetSpec",
    "FolderDataBundle",
    "TensorDataBundle",
    "default_data_root",
    "load_dataset",
    "stratified_split",
]


def default_data_root() -> Path:
    """$BENCH_DATA if set, else ./data (absolute, so error messages show where we looked)."""
    env = os.environ.get("BENCH_DATA")
    return Path(env).expanduser() if env else Path.cwd() / "data"


def load_dataset(
    name: str,
    *,
    data_root: str | Path | None = None,
    download: bool = False,
    device: str | torch.device = "cpu",
    split_seed: int = 0,
) -> DataBundle:
    """Load a registered dataset; nothing is downloaded unless `download=True`.

    `split_seed` fixes which 10% of the training set is held out as "val"; the same seed always gives
    the same split.
    """
    spec = DATASETS.get(name)
    root = Path(data_root).expanduser() if data_root is not None else default_data_root()
    bundle = spec.loader(spec, root, download=download, device=torch.device(device), split_seed=split_seed)
    bundle.split_seed = split_seed
    return bundle
