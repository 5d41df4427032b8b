"""Datasets held as uint8 tensors on the device (bench/data/tensor_bundle.py): batches that are a function of
(seed, epoch), every sample once per epoch, seeded calibration batches, and the splits it accepts."""

from __future__ import annotations

import pytest
import torch

from bench.data import DATASETS
from bench.data.digits import DIGITS_SIZE
from bench.data.tensor_bundle import TensorDataBundle

from tests.data.batches import collect, raw, rows


def test_train_batches_are_a_function_of_seed_and_epoch(digits):
    def epoch(seed, ep):
        return collect(digits.train_batches(64, seed=seed, epoch=ep))

    a, b = epoch(0, 0), epoch(0, 0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(epoch(0, 1)[1], a[1])
    assert not torch.equal(epoch(1, 0)[1], a[1])


def test_an_epoch_visits_every_training_sample_once(digits):
    batches = list(digits.train_batches(100, seed=5, epoch=2, augment=False))
    n = digits.sizes["train"]
    assert len(batches) == digits.steps_per_epoch(100)
    assert [len(y) for _, y in batches] == [100] * (n // 100) + [n % 100]
    x, y = collect(batches)
    train_x, train_y = collect(digits.eval_batches("train", 512))
    assert rows(raw(digits, x)) == rows(raw(digits, train_x))
    assert sorted(y.tolist()) == sorted(train_y.tolist())


def test_calibration_batches_are_seeded_unaugmented_training_samples(digits):
    a = digits.calibration_batches(3, 32, seed=7)
    b = digits.calibration_batches(3, 32, seed=7)
    c = digits.calibration_batches(3, 32, seed=8)
    assert len(a) == 3 and all(x.shape == (32, 1, DIGITS_SIZE, DIGITS_SIZE) for x, _ in a)
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, b))
    assert not torch.equal(a[0][0], c[0][0])
    train = set(rows(raw(digits, collect(digits.eval_batches("train", 512))[0])))
    assert set(rows(raw(digits, collect(a)[0]))) <= train
    assert digits.calibration_batches(0, 32, seed=0) == []


def _splits(n=(6, 2, 3)):
    gen = torch.Generator().manual_seed(0)
    return {name: (torch.randint(0, 256, (k, 1, 16, 16), generator=gen, dtype=torch.uint8), torch.arange(k) % 10)
            for name, k in zip(("train", "val", "test"), n)}


def test_a_bundle_holds_its_splits_as_given_and_normalizes_on_the_way_out(digits):
    assert isinstance(digits, TensorDataBundle)  # digits is held in memory
    spec = DATASETS.get("digits")
    splits = _splits()
    bundle = TensorDataBundle(spec, splits, mean=(0.5,), std=(0.25,), pad=2, flip=False)
    assert bundle.sizes == {"train": 6, "val": 2, "test": 3}
    x, y = collect(bundle.eval_batches("test", 2))
    assert torch.allclose(x, (splits["test"][0].float() / 255 - 0.5) / 0.25, atol=1e-5) and y.tolist() == [0, 1, 2]
    assert torch.equal(raw(bundle, x), splits["test"][0])
    train_x, _ = collect(bundle.eval_batches("train", 6))  # the un-augmented view: the padded images' centre
    assert torch.equal(raw(bundle, train_x), splits["train"][0])


def test_splits_of_the_wrong_type_shape_or_length_are_refused():
    spec = DATASETS.get("digits")
    good = _splits()
    for bad, message in (
        ({**good, "val": (good["val"][0].float(), good["val"][1])}, "expected uint8"),
        ({**good, "val": (good["val"][0][:, :, :8], good["val"][1])}, "expected uint8"),
        ({**good, "val": (good["val"][0], good["val"][1][:1])}, "2 images but 1 labels"),
        ({k: v for k, v in good.items() if k != "train"}, "no train split"),
    ):
        with pytest.raises(ValueError, match=message):
            TensorDataBundle(spec, bad, mean=(0.0,), std=(1.0,), pad=0, flip=False)
