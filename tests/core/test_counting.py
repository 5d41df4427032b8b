"""fvcore counting: one multiply-add = one FLOP; masks scale params and FLOPs."""

import torch
import torch.nn as nn

from bench.core.counting import count


def test_conv_flops_follow_the_multiply_add_convention():
    conv = nn.Conv2d(4, 8, 3, padding=1, bias=False)
    counts = count(conv, torch.zeros(1, 4, 10, 10))
    assert counts.flops == 9 * 4 * 8 * 10 * 10
    assert counts.params == 9 * 4 * 8


def test_masks_count_unmasked_weights_and_density_weighted_flops():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False))
    mask = torch.zeros_like(model[0].weight, dtype=torch.bool)
    mask.view(-1)[: mask.numel() // 4] = True
    counts = count(model, torch.zeros(1, 2, 6, 6), {"0": mask})
    assert counts.params == mask.numel() // 4
    assert counts.flops == 9 * 2 * 4 * 36 // 4
