"""What the training loop trains on (bench/core/dataset.py): a dataset's spec, the `DataBundle` every dataset
serves its splits through (steps per epoch, the splits it knows), and the batch-size check they all share."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.core.config import Recipe
from bench.core.dataset import NO_SHARD, DataBundle, DatasetSpec, check_batch_size
from bench.errors import BenchError

RECIPE = Recipe(epochs=2, lr=0.1, milestones=(0.5,), gamma=0.1, batch_size=4)


def _no_loader(spec, data_root, *, download, device, split_seed):
    raise AssertionError("not loaded in these tests")


def spec(**fields) -> DatasetSpec:
    return DatasetSpec(**{"name": "toy", "num_classes": 3, "in_channels": 2, "input_size": 5, "recipe": RECIPE,
                          "description": "a toy dataset", "loader": _no_loader, **fields})


class ToyBundle(DataBundle):
    """The smallest complete bundle: zeros, labelled 0, `sizes` samples per split."""

    def __init__(self, sizes: dict[str, int]):
        self.spec, self.sizes, self.device = spec(), sizes, torch.device("cpu")

    def train_batches(self, batch_size, *, seed, epoch, augment=True, shard=NO_SHARD):
        n = self.sizes["train"]
        for start in range(0, n, check_batch_size(batch_size)):
            k = min(batch_size, n - start)
            yield self.example_inputs(k), torch.zeros(k, dtype=torch.long)

    def eval_batches(self, split, batch_size, shard=NO_SHARD):
        self._check_split(split)
        check_batch_size(batch_size)
        return iter(())

    def calibration_batches(self, n_batches, batch_size, *, seed):
        return []

    def example_inputs(self, batch_size=1):
        return torch.zeros(check_batch_size(batch_size), *self.spec.input_shape)


# --- the spec ----------------------------------------------------------------------------------------


def test_a_spec_is_a_frozen_value_whose_loader_is_not_part_of_it():
    s = spec()
    assert s.input_shape == (2, 5, 5)
    assert s == spec(loader=lambda *a, **k: None)  # the same dataset, however it is loaded
    assert s != spec(input_size=6) and "loader" not in repr(s)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.num_classes = 4


# --- the bundle --------------------------------------------------------------------------------------


def test_a_bundle_cannot_be_made_without_its_batches():
    class Partial(DataBundle):
        def train_batches(self, batch_size, *, seed, epoch, augment=True, shard=NO_SHARD):
            return iter(())

    with pytest.raises(TypeError, match="abstract"):
        Partial()


def test_steps_per_epoch_keep_the_last_partial_batch():
    bundle = ToyBundle({"train": 10, "test": 3})
    assert bundle.split_seed == 0  # set by load_dataset; part of every run's identity
    assert [bundle.steps_per_epoch(b) for b in (1, 3, 5, 10, 11)] == [10, 4, 2, 1, 1]
    assert bundle.steps_per_epoch(3) == len(list(bundle.train_batches(3, seed=0, epoch=0)))
    with pytest.raises(BenchError, match="batch size must be a positive integer, got 0"):
        bundle.steps_per_epoch(0)


def test_an_unknown_split_names_the_ones_there_are():
    bundle = ToyBundle({"train": 10, "val": 2, "test": 3})
    assert list(bundle.eval_batches("val", 4)) == []
    with pytest.raises(BenchError, match="unknown split 'dev' of toy; expected one of train, val, test"):
        bundle.eval_batches("dev", 4)


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "8", None])
def test_check_batch_size_refuses_anything_but_a_positive_int(bad):
    with pytest.raises(BenchError, match="batch size must be a positive integer"):
        check_batch_size(bad)


def test_check_batch_size_passes_a_positive_int_through():
    assert check_batch_size(1) == 1 and check_batch_size(512) == 512


def test_batch_size_must_be_positive(digits):
    with pytest.raises(BenchError):
        digits.train_batches(0, seed=0, epoch=0)
    with pytest.raises(BenchError, match="unknown split"):
        digits.eval_batches("dev", 8)
