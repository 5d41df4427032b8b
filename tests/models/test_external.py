"""Models from other libraries (bench/models/external.py): torchvision by name, timm as `timm:<name>`, never
downloaded, the input conv swapped for the dataset's channel count."""

import pytest
import torch
import torch.nn as nn

from bench.errors import UnknownNameError
from bench.models import external


def test_a_torchvision_model_takes_the_datasets_channels_and_classes():
    assert "resnet18" in external.torchvision_names()
    model = external.build_torchvision("resnet18", num_classes=7, in_channels=1)
    conv = model.conv1
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == (1, 64, (7, 7), (2, 2), (3, 3))
    assert conv.bias is None and model.fc.out_features == 7
    assert model.eval()(torch.zeros(2, 1, 32, 32)).shape == (2, 7)
    rgb = external.build_torchvision("resnet18", num_classes=7, in_channels=3)
    assert rgb.conv1.in_channels == 3  # left as it is


def test_only_the_first_three_channel_conv_is_replaced():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, groups=1), nn.Conv2d(4, 3, 1), nn.Conv2d(3, 3, 1))
    external._replace_input_conv(model, 2)
    assert [m.in_channels for m in model] == [2, 4, 3] and model[0].padding == (1, 1)


def test_timm_models_are_built_untrained_and_unknown_ones_suggest_names():
    model = external.build_timm("resnet10t", num_classes=5, in_channels=1)
    assert model.eval()(torch.zeros(1, 1, 32, 32)).shape == (1, 5)
    with pytest.raises(UnknownNameError, match="unknown timm model 'resnet10x'.*did you mean"):
        external.build_timm("resnet10x", num_classes=5, in_channels=1)
    with pytest.raises(UnknownNameError, match=r"unknown timm model 'resnet\*'"):  # a name, never a pattern
        external.build_timm("resnet*", num_classes=5, in_channels=1)
