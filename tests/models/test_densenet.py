"""DenseNet-40 (k=12) for CIFAR (bench/models/densenet.py): three dense blocks of twelve layers joined by
transitions, each layer's 12 new channels concatenated onto its input."""

import torch
import torch.nn as nn

from bench.models.densenet import CifarDenseNet, DenseLayer, Transition, densenet40


def test_every_layer_adds_growth_channels_and_transitions_keep_the_width():
    model = densenet40(num_classes=7, in_channels=1)
    layers = [b for b in model.blocks if isinstance(b, DenseLayer)]
    transitions = [b for b in model.blocks if isinstance(b, Transition)]
    assert len(layers) == 36 and len(transitions) == 2
    widths = [layer.conv.in_channels for layer in layers]
    assert widths[:2] == [24, 36] and widths[11] == 24 + 11 * 12  # the stem's 2k, then +k per layer
    assert [t.conv.out_channels for t in transitions] == [24 + 12 * 12, 24 + 24 * 12]  # no compression
    assert model.fc.in_features == 24 + 36 * 12 == 456 and model.fc.out_features == 7
    x = torch.randn(2, 1, 16, 16)
    layer = layers[0].eval()
    assert layer(torch.randn(2, 24, 8, 8)).shape == (2, 36, 8, 8)  # the input, with 12 channels concatenated
    assert model.eval()(x).shape == (2, 7)


def test_a_shallower_densenet_and_its_layout_hints():
    model = CifarDenseNet(depth=10, growth=4)
    assert sum(isinstance(b, DenseLayer) for b in model.blocks) == 6  # (depth - 4) / 3 layers per block
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert set(model.feature_maps()) == set(convs) and model.pruning_layouts()
