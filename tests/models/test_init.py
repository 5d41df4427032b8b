"""The built-in models' initialization (bench/models/init.py): Kaiming normal, fan-out, on every conv; the rest
keeps PyTorch's defaults. Scratch protocols reapply it to a pruned copy."""

import torch
import torch.nn as nn

from bench.models.init import kaiming_convs


def test_convs_get_kaiming_normal_fan_out_and_the_rest_is_left_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 128, 3, bias=False), nn.BatchNorm2d(128), nn.Linear(8, 8))
    with torch.no_grad():
        model[1].weight.fill_(0.5)
    linear = model[2].weight.detach().clone()
    kaiming_convs(model)
    std = model[0].weight.std().item()
    assert abs(std / (2 / (128 * 9)) ** 0.5 - 1) < 0.02  # fan-out: out_channels x kernel area
    assert abs(model[0].weight.mean().item()) < 0.01
    assert torch.equal(model[1].weight, torch.full((128,), 0.5)) and torch.equal(model[2].weight, linear)
    torch.manual_seed(1)
    again = nn.Conv2d(64, 128, 3, bias=False)
    kaiming_convs(again)
    torch.manual_seed(1)
    same = nn.Conv2d(64, 128, 3, bias=False)
    kaiming_convs(same)
    assert torch.equal(again.weight, same.weight)  # seeded: a scratch run restarts from the same weights
