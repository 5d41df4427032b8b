"""Tiny datasets in real on-disk formats, written into a test's temp dir (tests never download)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from bench.data.cifar import CIFAR10_FORMAT


def write_cifar(root: Path, fmt=CIFAR10_FORMAT, per_file: int = 12, num_classes: int = 10, seed: int = 0) -> dict:
    """A tiny dataset in torchvision's python format; returns the arrays written, per file."""
    rng = np.random.default_rng(seed)
    folder = root / fmt.folder
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in fmt.train_files + fmt.test_files:
        images = rng.integers(0, 256, (per_file, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, num_classes, per_file).tolist()
        with open(folder / name, "wb") as f:
            batch = {"batch_label": name, "data": images.reshape(per_file, -1), fmt.label_key: labels}
            pickle.dump(batch, f, protocol=2)
        written[name] = (images, labels)
    meta = "batches.meta" if fmt is CIFAR10_FORMAT else "meta"
    with open(folder / meta, "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(num_classes)]}, f)
    return written
