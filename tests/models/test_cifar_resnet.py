"""TODO."""

import pytest
import torch
import torch.nn.functional as F

from bench.models.cifar_resnet import ChannelShortcut


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
