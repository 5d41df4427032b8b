"""The model zoo: published sizes recomputed from the real models, and name lookup."""

import pytest
import torch

from bench.core.counting import count
from bench.errors import UnknownNameError
from bench.models import MODELS, build_model


CIFAR = torch.zeros(1, 3, 32, 32)

# Parameter counts of the standard CIFAR models (ResNet-56: the "0.85M" of every pruning paper).
PUBLISHED_PARAMS = {
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
}


@pytest.mark.parametrize("name, params", PUBLISHED_PARAMS.items())
def test_cifar_resnet_parameter_counts(name, params):
    model = build_model(name, num_classes=10, in_channels=3)
    assert sum(p.numel() for p in model.parameters()) == params


def test_resnet56_flops_match_the_papers():
    # 125.49M multiply-adds for conv+fc in the papers; fvcore also counts the BatchNorms (+1.06M).
    counts = count(build_model("resnet56", num_classes=10, in_channels=3), CIFAR)
    assert counts.params == 853_018
    assert 125.4e6 < counts.flops < 126.6e6


def test_vgg16_and_densenet40_sizes():
    vgg = count(build_model("vgg16", num_classes=10, in_channels=3), CIFAR)
    assert abs(vgg.params - 14.98e6) < 0.02e6 and abs(vgg.flops - 313.73e6) < 1e6
    dense = count(build_model("densenet40", num_classes=10, in_channels=3), CIFAR)
    assert abs(dense.params - 1.06e6) < 0.01e6


@pytest.mark.parametrize("name", MODELS.names() + ["resnet18", "mobilenet_v2", "timm:resnet10t"])
def test_every_model_takes_the_datasets_shape(name):
    model = build_model(name, num_classes=7, in_channels=1).eval()
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 7)


def test_unknown_models_suggest_names():
    with pytest.raises(UnknownNameError, match="resnet56"):
        build_model("resnet65", num_classes=10, in_channels=3)
    with pytest.raises(UnknownNameError, match="timm model"):
        build_model("timm:not_a_model_xyz", num_classes=10, in_channels=3)


def test_shortcut_is_exact_identity_and_zero_padding_when_dense():
    from bench.models.cifar_resnet import ChannelShortcut

    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(ChannelShortcut(16, 16, 1)(x), x)
    padded = ChannelShortcut(16, 32, 2)(x)
    assert padded.shape == (2, 32, 4, 4)
    assert torch.equal(padded[:, 8:24], x[:, :, ::2, ::2])
    assert padded[:, :8].abs().sum() == 0 and padded[:, 24:].abs().sum() == 0
