"""The model zoo (bench/models/__init__.py): every name builds a model for the dataset's shape, sizes of the
built-ins, and unknown names with suggestions."""

import pytest
import torch

from bench.core.counting import count
from bench.errors import UnknownNameError
from bench.models import MODELS, build_model


CIFAR = torch.zeros(1, 3, 32, 32)


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
