"""`digits`, the default dataset (bench/data/digits.py): its sizes, splits, augmentation and normalization."""

from __future__ import annotations

import torch

from bench.data import load_dataset
from bench.data.digits import DIGITS_PAD, DIGITS_SIZE, digits_arrays

from tests.data.batches import collect, match_shifts, raw, rows


def test_digits_sizes_shapes_and_labels(digits):
    s = digits.sizes
    assert s["train"] + s["val"] + s["test"] == 1797
    assert s["test"] == 360  # 20%, stratified
    assert s["val"] == round(0.1 * (s["train"] + s["val"]))
    for split in ("val", "test"):
        x, y = collect(digits.eval_batches(split, 100))
        assert x.shape == (s[split], 1, DIGITS_SIZE, DIGITS_SIZE) and x.dtype == torch.float32
        assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    assert digits.example_inputs(3).shape == (3, 1, DIGITS_SIZE, DIGITS_SIZE)
    assert digits.steps_per_epoch(64) == -(-s["train"] // 64)


def test_digits_splits_partition_the_dataset_and_follow_split_seed(digits):
    images, _ = digits_arrays()
    parts = {split: raw(digits, collect(digits.eval_batches(split, 256))[0]) for split in ("train", "val", "test")}
    assert rows(torch.cat(list(parts.values()))) == rows(images)  # disjoint and complete
    same = load_dataset("digits", split_seed=0)
    other = load_dataset("digits", split_seed=1)
    val = lambda b: collect(b.eval_batches("val", 256))[0]  # noqa: E731
    assert torch.equal(val(same), val(digits))
    assert not torch.equal(val(other), val(digits))
    assert torch.equal(collect(other.eval_batches("test", 256))[0], collect(digits.eval_batches("test", 256))[0])


def test_digits_augmentation_shifts_by_at_most_pad_and_never_flips(digits):
    aug, y_aug = collect(digits.train_batches(64, seed=1, epoch=0))
    orig, y = collect(digits.train_batches(64, seed=1, epoch=0, augment=False))
    assert torch.equal(y, y_aug)  # augmentation does not change the order
    shifts = match_shifts(raw(digits, orig), raw(digits, aug), DIGITS_PAD, flip=False)
    assert (shifts[:, 2] == 0).all(), "every sample is an unmirrored shift of at most DIGITS_PAD pixels"
    changed = (raw(digits, orig) != raw(digits, aug)).flatten(1).any(1).float().mean()
    assert changed > 0.5


def test_normalized_digits_are_roughly_standardized(digits):
    x, _ = collect(digits.train_batches(256, seed=0, epoch=0, augment=False))
    assert abs(x.mean().item()) < 0.05 and 0.9 < x.std().item() < 1.1
    x, _ = collect(digits.train_batches(256, seed=0, epoch=0))
    assert abs(x.mean().item()) < 0.15
