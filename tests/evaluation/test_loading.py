"""Data, models and user checkpoints (bench/evaluation/loading.py): weights loaded without running code, in the
shapes people save them, with one-line errors for what does not fit; the tool's own weights written atomically."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.data import DATASETS
from bench.errors import BenchError
from bench.evaluation.loading import example_inputs, load_checkpoint, load_weights, new_model, save_weights
from bench.models import build_model

CPU = torch.device("cpu")
DIGITS = DATASETS.get("digits")


@pytest.mark.parametrize("wrap", [lambda s: s, lambda s: {"state_dict": s}, lambda s: {"model": s, "epoch": 3},
                                  lambda s: {f"module.{k}": v for k, v in s.items()}], ids=["plain", "state_dict", "model", "ddp"])
def test_a_checkpoint_loads_from_the_shapes_people_save(tmp_path, resnet20, wrap):
    path = tmp_path / "w.pt"
    torch.save(wrap(resnet20.state_dict()), path)
    model = new_model("resnet20", DIGITS, CPU)
    load_checkpoint(model, path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), resnet20.state_dict().values()))


def test_what_is_not_these_weights_is_a_one_line_error(tmp_path):
    model = build_model("resnet20", num_classes=10, in_channels=1)
    with pytest.raises(BenchError, match="does not exist"):
        load_checkpoint(model, tmp_path / "missing.pt")
    torch.save({"epoch": 3, "note": "no tensors"}, tmp_path / "meta.pt")
    with pytest.raises(BenchError, match="does not hold a state dict of tensors"):
        load_checkpoint(model, tmp_path / "meta.pt")
    torch.save(build_model("resnet32", num_classes=10, in_channels=1).state_dict(), tmp_path / "other.pt")
    with pytest.raises(BenchError) as info:
        load_checkpoint(model, tmp_path / "other.pt")
    assert str(info.value).endswith("does not fit the model: 72 unexpected key(s), e.g. layer1.3.conv1.weight")
    torch.save(build_model("resnet20", num_classes=10, in_channels=3).state_dict(), tmp_path / "rgb.pt")
    with pytest.raises(BenchError, match=r"1 tensor\(s\) of another shape, e\.g\. conv1\.weight \(16, 3, 3, 3\) for \(16, 1, 3, 3\)$"):
        load_checkpoint(model, tmp_path / "rgb.pt")


def test_a_model_that_cannot_take_the_datasets_inputs_is_refused_in_one_line():
    tiny = dataclasses.replace(DIGITS, input_size=1)  # 1x1 images: VGG's max-pools have nothing left to pool
    with pytest.raises(BenchError, match=r"model 'vgg16' cannot run on digits inputs of shape \(1, 1, 1\): ") as info:
        new_model("vgg16", tiny, CPU)
    assert "\n" not in str(info.value)
    # a library's own assertion (torchvision's ViT checks its image size) is the same one-line error
    with pytest.raises(BenchError, match=r"model 'vit_b_16' cannot run on digits inputs of shape \(1, 16, 16\): Wrong image height"):
        new_model("vit_b_16", DIGITS, CPU)
    assert example_inputs(DIGITS, CPU, 3).shape == (3, 1, 16, 16) and not example_inputs(DIGITS, CPU).any()


def test_the_tools_own_weights_round_trip_and_an_unreadable_cache_is_not_trusted(tmp_path, resnet20):
    path = tmp_path / "cache" / "model.pt"
    save_weights(resnet20, path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # written atomically: no temp file left
    fresh = build_model("resnet20", num_classes=10, in_channels=1)
    assert load_weights(fresh, path) and torch.equal(fresh.conv1.weight, resnet20.conv1.weight)
    path.write_bytes(b"truncated")
    assert load_weights(fresh, path) is False
