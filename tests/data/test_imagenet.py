"""ImageNet as an ImageFolder (bench/data/imagenet.py), as a tiny folder of PNGs: seeded batches whatever the
worker count, and a missing layout named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import DataBundle, FolderDataBundle, imagenet, load_dataset
from bench.errors import BenchError

from tests.data.batches import collect


def write_image_folder(root: Path, per_class: dict[str, int]) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in per_class.items():
        for cls in ("n01440764", "n01443537"):
            folder = root / "imagenet" / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_imagenet_from_image_folder(tmp_path):
    write_image_folder(tmp_path, {"train": 5, "val": 2})
    bundle = load_dataset("imagenet", data_root=tmp_path)
    assert isinstance(bundle, FolderDataBundle) and isinstance(bundle, DataBundle)
    assert bundle.sizes == {"train": 9, "val": 1, "test": 4}
    batches = list(bundle.train_batches(4, seed=0, epoch=0))
    assert [x.shape for x, _ in batches] == [(4, 3, 224, 224)] * 2 + [(1, 3, 224, 224)]
    again = list(bundle.train_batches(4, seed=0, epoch=0))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(batches, again))
    other = collect(bundle.train_batches(4, seed=0, epoch=1))
    assert not torch.equal(other[0], collect(batches)[0])
    x, y = collect(bundle.eval_batches("test", 3))
    assert x.shape == (4, 3, 224, 224) and y.tolist() == [0, 0, 1, 1]
    calib = bundle.calibration_batches(2, 2, seed=0)
    assert len(calib) == 2 and calib[0][0].shape == (2, 3, 224, 224)
    assert bundle.example_inputs(2).shape == (2, 3, 224, 224)


def test_imagenet_worker_count_does_not_change_augmentation(tmp_path):
    write_image_folder(tmp_path, {"train": 4, "val": 1})
    bundle = load_dataset("imagenet", data_root=tmp_path)
    assert isinstance(bundle, FolderDataBundle)
    state = torch.get_rng_state()
    bundle.num_workers = 0
    a = collect(bundle.train_batches(3, seed=2, epoch=0))
    assert torch.equal(state, torch.get_rng_state()), "the caller's global RNG is left alone"
    bundle.num_workers = 2
    b = collect(bundle.train_batches(3, seed=2, epoch=0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_imagenet_missing_names_the_layout(tmp_path):
    with pytest.raises(BenchError, match="one folder per class") as err:
        load_dataset("imagenet", data_root=tmp_path)
    assert str(tmp_path / "imagenet" / "train") in str(err.value)
    write_image_folder(tmp_path, {"train": 2})
    with pytest.raises(BenchError, match=str(tmp_path / "imagenet" / "val")):
        load_dataset("imagenet", data_root=tmp_path)


def test_train_and_eval_transforms_give_the_networks_input_size():
    """Training: a random resized crop and a flip; evaluation: resize to 256, centre crop 224; both normalized."""
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 200, 3), dtype=np.uint8))
    torch.manual_seed(0)
    train = imagenet.train_transform()(image)
    evaluated = imagenet.eval_transform()(image)
    assert train.shape == evaluated.shape == (3, imagenet.IMAGENET_SIZE, imagenet.IMAGENET_SIZE)
    assert torch.equal(evaluated, imagenet.eval_transform()(image))  # evaluation is deterministic
    assert abs(float(evaluated.mean())) < 1.0  # normalized, not 0..1 pixels
    assert imagenet.IMAGENET.num_classes == 1000 and imagenet.IMAGENET.recipe.epochs == imagenet.IMAGENET_RECIPE.epochs
