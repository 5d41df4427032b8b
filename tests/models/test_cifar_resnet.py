"""The CIFAR ResNets (bench/models/cifar_resnet.py): published sizes recomputed from the real models, and the
parameter-free channel-routing shortcut (option A), exact when dense and positional once pruned."""

import pytest
import torch
import torch.nn.functional as F

from bench.core.counting import count
from bench.models import build_model
from bench.models.cifar_resnet import ChannelShortcut


CIFAR = torch.zeros(1, 3, 32, 32)

CIFAR = torch.zeros(1, 3, 32, 32)


def shortcut_by_padding(x, in_width, out_width, stride):
    """HRankPlus's option-A shortcut for the pruned widths: F.pad by position, cropping when negative."""
    if stride > 1:
        x = x[:, :, ::stride, ::stride]
    left = (out_width - in_width) // 2
    return F.pad(x, (0, 0, 0, 0, left, out_width - in_width - left))


@pytest.mark.parametrize("in_width, out_width, stride", [(8, 16, 2), (13, 26, 2), (16, 13, 1), (6, 6, 1), (5, 12, 2)])
def test_positional_shortcut_is_zero_padding_in_the_pruned_widths(in_width, out_width, stride):
    shortcut = ChannelShortcut(max(in_width, 16), max(out_width, 32), stride)
    shortcut.in_channels, shortcut.out_channels = in_width, out_width
    shortcut.make_positional()
    x = torch.randn(2, in_width, 8, 8)
    assert torch.equal(shortcut(x), shortcut_by_padding(x, in_width, out_width, stride))


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


def test_shortcut_is_exact_identity_and_zero_padding_when_dense():
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(ChannelShortcut(16, 16, 1)(x), x)
    padded = ChannelShortcut(16, 32, 2)(x)
    assert padded.shape == (2, 32, 4, 4)
    assert torch.equal(padded[:, 8:24], x[:, :, ::2, ::2])
    assert padded[:, :8].abs().sum() == 0 and padded[:, 24:].abs().sum() == 0
