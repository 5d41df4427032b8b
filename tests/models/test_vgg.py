"""VGG-16 with batch norm, CIFAR variant (bench/models/vgg.py): thirteen conv-BN-ReLU, four max-pools, a
BatchNorm1d classifier; its hints for the core (where HRankPlus ranks a conv, and its one layout)."""

import torch
import torch.nn as nn

from bench.models.vgg import CFG, CifarVGG, vgg16


def test_thirteen_convs_each_with_batchnorm_and_relu_then_a_batchnorm_classifier():
    model = vgg16(num_classes=7, in_channels=1)
    convs = [i for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13 == sum(v != "M" for v in CFG)
    for i in convs:
        assert isinstance(model.features[i + 1], nn.BatchNorm2d) and isinstance(model.features[i + 2], nn.ReLU)
        assert model.features[i].bias is None
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.features) == 4
    assert isinstance(model.classifier[1], nn.BatchNorm1d) and model.classifier[-1].out_features == 7
    assert model.eval()(torch.zeros(2, 1, 16, 16)).shape == (2, 7)


def test_feature_maps_follow_the_pool_after_a_stage_and_the_layout_keeps_the_last_conv_dense():
    model = CifarVGG()
    maps = model.feature_maps()
    pooled = {name for name, after in maps.items() if isinstance(model.get_submodule(after), nn.MaxPool2d)}
    convs = list(maps)
    assert pooled == {convs[i] for i in (1, 3, 6, 9)}  # convs 2, 4, 7 and 10 end a stage
    assert all(isinstance(model.get_submodule(after), nn.ReLU) for name, after in maps.items() if name not in pooled)
    (layout,) = model.pruning_layouts().values()
    assert layout["entries"] == [[name] for name in convs[:12]]
