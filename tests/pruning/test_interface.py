"""The adapter interface (bench/pruning/interface.py): what an adapter declares, its hyperparameters from
the command line, and where it sees feature maps."""

import dataclasses

import pytest
import torch

from bench.errors import BenchError
from bench.pruning import Adapter, FeatureMap, get_adapter
from bench.pruning.interface import parse_hparams


def test_built_in_refusals_are_declared_on_the_adapters():
    assert set(get_adapter("slimming").refuses) == {"timm:convnext_atto", "timm:mobilenetv3_small_050"}
    assert set(get_adapter("width-scaled").refuses) == {"vgg16", "densenet40"}
    assert Adapter.refuses == () and get_adapter("l1-norm").refuses == ()


@dataclasses.dataclass(frozen=True)
class _Hparams:
    batches: int = 5
    scale: float = 0.5
    mask: bool = True
    norm: str = "l2"


class _Probe(Adapter):
    name = "probe"
    Hparams = _Hparams


def test_hyperparameters_from_the_command_line_are_typed_by_their_defaults():
    hp = parse_hparams(_Probe, ["batches=3", "scale = 0.25", "mask=off", "norm=l1"])
    assert hp == _Hparams(batches=3, scale=0.25, mask=False, norm="l1")
    assert parse_hparams(_Probe, []) == _Hparams() and _Probe().hparams == _Hparams()
    assert _Probe.describe_hparams() == {"batches": 5, "scale": 0.5, "mask": True, "norm": "l2"}
    for bad, message in (("batch=3", "expected KEY=VALUE with KEY one of: batches, scale, mask, norm"),
                         ("batches", "expected KEY=VALUE"), ("batches=3.5", "'3.5' is not a valid int"),
                         ("mask=maybe", "'maybe' is not a valid bool")):
        with pytest.raises(BenchError, match=message):
            parse_hparams(_Probe, [bad])


def test_a_feature_map_is_a_modules_output_on_some_channels_through_an_activation():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([1.0, -1.0, 2.0, -2.0]).view(4, 1, 1, 1))
    seen = []
    handle = FeatureMap("0", channels=(1, 2), activation="relu").register(model, seen.append)
    model(torch.ones(1, 1, 2, 2))
    handle.remove()
    model(torch.ones(1, 1, 2, 2))
    (fmap,) = seen  # removed after the first forward
    assert fmap.shape == (1, 2, 2, 2) and fmap[0, 0].eq(0).all() and fmap[0, 1].eq(2).all()  # relu(-1) = 0, relu(2) = 2
