"""The pruning core on the paper's reference models: published sizes, residual correctness, masks."""

import pytest
import torch

from bench.core.counting import count
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, get_adapter, parse_compress_rate
from bench.pruning.engine import prune

CIFAR = torch.zeros(1, 3, 32, 32)


def _prune(model_name, adapter, target, layout=None):
    model = build_model(model_name, num_classes=10, in_channels=3).eval()
    pruned = prune(model, model_name, get_adapter(adapter)(), target, example_inputs=CIFAR, calibration=[], seed=0, layout=layout)
    return model, pruned


@pytest.mark.parametrize(
    "model_name, rate, params, flops",
    [
        # HRankPlus README (CIFAR-10): params and multiply-adds of its pruned models.
        ("resnet56", "[0.]+[0.18]*29", 0.66e6, 90.35e6),
        ("resnet56", "[0.]+[0.15]*2+[0.4]*27", 0.48e6, 65.94e6),
        ("resnet110", "[0.]+[0.2]*2+[0.3]*18+[0.35]*36", 1.04e6, 140.54e6),
        ("vgg16", "[0.21]*7+[0.75]*5", 2.76e6, 131.17e6),
        # DenseNet-40's 0.39M / 113.08M row: the string NPTM's hrankplus/scripts/*densenet40* run
        # (395,908 params: the README truncates to two decimals)
        ("densenet40", "[0.]+[0.4]*12+[0.]+[0.4]*12+[0.]+[0.4]*12", 0.39e6, 113.08e6),
    ],
)
def test_hrankplus_compress_rates_reproduce_published_sizes(model_name, rate, params, flops):
    _, pruned = _prune(model_name, "random", Target(compress_rate=parse_compress_rate(rate)))
    counts = count(pruned.model, CIFAR)
    assert abs(counts.params - params) <= 0.006e6  # published to two decimals in millions
    assert abs(counts.flops - flops) / flops < 0.002  # HRankPlus counts BN slightly differently


@pytest.mark.parametrize(
    "config, params, flops",
    [("resnet56-A", 0.77e6, 1.12e8), ("resnet56-B", 0.73e6, 9.09e7)],  # PFEC Table 1
)
def test_pfec_named_configurations_reproduce_the_paper(config, params, flops):
    dense, pruned = _prune("resnet56", "l1-norm", Target(config=config))
    counts = count(pruned.model, CIFAR)
    assert abs(counts.params - params) / params < 0.01
    assert abs(counts.flops - flops) / flops < 0.02


def test_resnet56_dense_and_pruned_counts():
    dense, pruned = _prune("resnet56", "l1-norm", Target(ratio=0.5))  # block-internal: half of every block's inside
    d, p = count(dense, CIFAR), count(pruned.model, CIFAR)
    assert d.params == 853_018
    assert 0.45 * d.params < p.params < 0.52 * d.params and 0.45 * d.flops < p.flops < 0.52 * d.flops


def test_pruning_block_outputs_through_padding_shortcuts_gives_a_working_model():
    """The known torch-pruning 1.6 pitfall: pruning every block output of a stage across the
    zero-padding shortcut used to break the classifier. Every stage output is pruned here."""
    rates = "[0.]+[0.5]*2+[0.5]*27"
    dense, pruned = _prune("resnet56", "l1-norm", Target(compress_rate=parse_compress_rate(rates)), layout="hrankplus")
    units = pruned.structure.units
    assert units["layer1.0.conv2"] == (8, 16) and units["layer2.3.conv2"] == (16, 32)
    x = torch.randn(3, 3, 32, 32)
    assert pruned.model.eval()(x).shape == (3, 10)


def test_channel_removal_is_exact_when_removed_channels_are_dead():
    """Zero a VGG conv's filters and BN: removing exactly those channels must not change the output."""
    model = build_model("vgg16", num_classes=10, in_channels=3).eval()
    with torch.no_grad():
        conv, bn = model.features[0], model.features[1]
        conv.weight[:32] = 0
        bn.weight[:32] = 0
        bn.bias[:32] = 0
    pruned = prune(model, "vgg16", get_adapter("l1-norm")(), Target(compress_rate=(0.5,) + (0.0,) * 11),
                   example_inputs=CIFAR, calibration=[], seed=0)
    assert pruned.model.features[0].out_channels == 32
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(pruned.model.eval()(x), model(x), atol=1e-5)


def test_unstructured_masks_are_global_and_exact():
    dense, pruned = _prune("resnet20", "global-magnitude", Target(ratio=0.7))
    total = sum(t for _, t in pruned.structure.units.values())
    kept = sum(k for k, _ in pruned.structure.units.values())
    assert abs(kept / total - 0.3) < 1e-3
    for name, mask in pruned.masks.items():
        weight = pruned.model.get_submodule(name).weight
        assert torch.all(weight[~mask] == 0)


def test_wrong_compress_rate_length_and_config_model_are_clear_errors():
    with pytest.raises(BenchError, match="has 3 entries but resnet56's hrankplus layout takes 30"):
        _prune("resnet56", "random", Target(compress_rate=(0.1, 0.2, 0.3)))
    with pytest.raises(BenchError, match="has 3 entries but resnet56's block-internal layout takes 27"):
        _prune("resnet56", "l1-norm", Target(compress_rate=(0.1, 0.2, 0.3)))
    with pytest.raises(BenchError, match="no pruning layout 'bogus'.*known: hrankplus, block-internal"):
        _prune("resnet56", "l1-norm", Target(ratio=0.5), layout="bogus")
    with pytest.raises(BenchError, match="defined for model 'resnet56'"):
        _prune("resnet20", "l1-norm", Target(config="resnet56-B"))
    with pytest.raises(BenchError, match="no configuration"):
        _prune("resnet56", "l1-norm", Target(config="resnet56-Z"))


def test_hrankplus_densenet_mapping_gives_hrankplus_widths():
    """HRankPlus's DenseNet-40 mapping (its models/cifar10/densenet.py, copied unchanged by NPTM): the
    stem entry prunes nothing, growth layers keep int(12 * (1 - r)), a transition keeps
    floor(pruned input * (1 - r)), and the BatchNorm before it has the pruned width. The string below is
    HRank's (the original HRank repository and NPTM's hrank/scripts run it; its published 0.66M / 167.41M
    is HRank's count of a masked full-width model, Conv and Linear only); through HRankPlus's code it
    gives widths 102 / 180 / 267 and 366,676 parameters, as here. HRankPlus's own 0.39M / 113.08M row is
    the uniform 0.4 string checked in test_hrankplus_compress_rates_reproduce_published_sizes."""
    rates = "[0.0]+[0.1]*6+[0.7]*6+[0.0]+[0.1]*6+[0.7]*6+[0.0]+[0.1]*6+[0.7]*5+[0.0]"
    _, pruned = _prune("densenet40", "random", Target(compress_rate=parse_compress_rate(rates)))
    model = pruned.model
    assert model.conv1.out_channels == 24
    assert [model.blocks[i].conv.out_channels for i in (0, 6, 12, 25)] == [10, 3, 102, 180]
    assert model.blocks[37].conv.out_channels == 12 and model.fc.in_features == 267
    assert count(model, CIFAR).params == 366_676


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
