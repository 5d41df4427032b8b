"""`digits`, the default dataset: scikit-learn's bundled 8x8 handwritten digits (offline, 1797 images).

Small enough that a full train/prune/retrain protocol runs in minutes on a CPU, yet a real
classification task, so pruning methods can be compared end to end without downloads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bench.core.config import Recipe
from bench.core.dataset import DatasetSpec
from bench.data.base import DATASETS, VAL_FRACTION, stratified_split
from bench.data.tensor_bundle import TensorDataBundle

# Upsampled once at load: 8x8 is too small for the usual conv stems (stride 2 + pooling).
DIGITS_SIZE = 16
DIGITS_PAD = 2  # random-crop padding; no flip, since digits are not mirror-symmetric
DIGITS_TEST_FRACTION = 0.2
DIGITS_TEST_SEED = 0  # the test split is fixed for everyone, independent of split_seed
# The CIFAR recipe scaled down (fewer epochs) for a dataset ~30x smaller. Digits stands in for
# CIFAR-10, so protocol budgets are CIFAR's, scaled to the same fraction of the original training:
# ft-40 / lrw-40 / clr-40 train 8 epochs (40/160 of 30), clr-90 17, *-80 15, clr-152 29.
DIGITS_RECIPE = Recipe(
    epochs=30, lr=0.1, milestones=(0.5, 0.75), gamma=0.1, batch_size=64, momentum=0.9, nesterov=True, weight_decay=1e-4,
    budget_epochs=160,
)


def digits_arrays(size: int = DIGITS_SIZE) -> tuple[Tensor, Tensor]:
    """All 1797 images as uint8 (N, 1, size, size) in 0..255 (bilinear upsampling) and int64 labels."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = torch.from_numpy(raw.images.astype(np.float32))[:, None]  # values 0..16
    if size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    images = (x * (255.0 / 16.0)).round().clamp(0, 255).to(torch.uint8)
    return images, torch.from_numpy(raw.target.astype(np.int64))


def _load(
    spec: DatasetSpec, data_root: Path, *, download: bool, device: torch.device, split_seed: int
) -> TensorDataBundle:
    # data_root and download are unused: the data ships inside scikit-learn.
    from sklearn.model_selection import train_test_split

    images, labels = digits_arrays(spec.input_size)
    pool, test = train_test_split(
        np.arange(len(labels)), test_size=DIGITS_TEST_FRACTION, stratify=labels.numpy(), random_state=DIGITS_TEST_SEED
    )
    pool = np.sort(pool)
    keep, val = stratified_split(labels.numpy()[pool], VAL_FRACTION, split_seed)
    train, val, test = pool[keep], pool[val], np.sort(test)
    # Normalization statistics from the fixed train+val pool: independent of split_seed, no test pixels.
    pixels = images[torch.from_numpy(pool)].double() / 255.0
    mean, std = (pixels.mean().item(),), (pixels.std().item(),)
    splits = {name: (images[torch.from_numpy(i)], labels[torch.from_numpy(i)]) for name, i in
              (("train", train), ("val", val), ("test", test))}
    return TensorDataBundle(spec, splits, mean=mean, std=std, pad=DIGITS_PAD, flip=False, device=device)


DIGITS = DatasetSpec(
    name="digits",
    num_classes=10,
    in_channels=1,
    input_size=DIGITS_SIZE,
    recipe=DIGITS_RECIPE,
    description=f"scikit-learn 8x8 handwritten digits upsampled to {DIGITS_SIZE}x{DIGITS_SIZE} (1797 images, offline)",
    loader=_load,
)
DATASETS.add(DIGITS.name, DIGITS)
