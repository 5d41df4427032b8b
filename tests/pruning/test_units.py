"""The prunable units of a model (bench/pruning/units.py), where their feature maps are read, and the BatchNorm
after each conv."""

import torch
import torch.nn as nn

from bench.models import build_model
from bench.pruning.units import batchnorms_after


CIFAR = torch.zeros(1, 3, 32, 32)


def test_feature_maps_are_read_after_the_batchnorm_and_activation_that_consume_a_conv():
    from bench.pruning.layouts import GENERIC
    from bench.pruning.units import Units, feature_maps

    tv = build_model("resnet18", num_classes=10, in_channels=3).eval()
    points = feature_maps(tv, Units(tv, True, CIFAR, GENERIC))
    assert (points["conv1"].module, points["conv1"].activation) == ("bn1", "relu")
    assert (points["layer1.0.conv1"].module, points["layer1.0.conv1"].activation) == ("layer1.0.bn1", "relu")
    dn = build_model("densenet40", num_classes=10, in_channels=3).eval()
    points = feature_maps(dn, Units(dn, True, CIFAR, GENERIC))
    # a dense layer's 12 channels are seen at the next layer's ReLU, where they are its last 12 inputs
    assert points["blocks.1.conv"].module == "blocks.2.relu" and points["blocks.1.conv"].channels == tuple(range(36, 48))
    assert points["conv1"].module == "blocks.0.relu" and points["conv1"].channels == tuple(range(24))
    assert points["blocks.11.conv"].module == "blocks.12.relu"  # the transition reads the block's last layer


def test_the_batchnorm_after_every_resnet_conv_is_found(resnet20):
    layers = {n: m for n, m in resnet20.named_modules() if isinstance(m, nn.Conv2d)}
    after = batchnorms_after(resnet20, torch.zeros(1, 1, 16, 16))
    assert after.keys() == layers.keys()
    for name, bn in after.items():
        assert bn is resnet20.get_submodule(name.replace("conv", "bn"))
    assert all(not m._forward_hooks for m in resnet20.modules())
