"""bench.data: the dataset registry, `load_dataset` and where data lives. (Each dataset's reader, the bundles'
batches and the augmentation: the other files here; tiny on-disk fixtures, no network.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.data import DATASETS, DEFAULT_DATASET, default_data_root, load_dataset
from bench.data.digits import DIGITS_RECIPE, DIGITS_SIZE
from bench.errors import UnknownNameError


# ---------------------------------------------------------------- registry and API


def test_registry_lists_datasets_and_default():
    assert {"digits", "cifar10", "cifar100", "imagenet"} <= set(DATASETS)
    assert DEFAULT_DATASET == "digits"
    spec = DATASETS.get("digits")
    assert (spec.num_classes, spec.in_channels, spec.input_size) == (10, 1, DIGITS_SIZE)
    assert spec.recipe == DIGITS_RECIPE
    assert DATASETS.get("cifar10").recipe.epochs == 160
    assert DATASETS.get("imagenet").recipe.batch_size == 256


def test_unknown_dataset_name_suggests_close_match():
    with pytest.raises(UnknownNameError, match="did you mean 'cifar10'"):
        load_dataset("cifar-1O")


def test_default_data_root_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("BENCH_DATA")
    assert default_data_root() == Path.cwd() / "data"
