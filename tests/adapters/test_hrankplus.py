"""HRankPlus (adapters/hrankplus.py): channels ranked by the average matrix rank of their feature maps, and
parity with the reference's hooked points (tests/adapters/parity.py)."""

import numpy as np
import torch
import torch.nn.functional as F

from bench.adapters.hrankplus import HRankPlus

from tests.adapters.parity import BLOCKS, calibration, keep_top, kept
from tests.adapters.scoring import context
from tests.helpers.trained_like import trained_like


def resnet_feature_maps(model, x):
    """HRankPlus's hooked points, by an explicit forward: the stem's ReLU, each block's relu1 and its
    output after the addition and relu2 (rank_generation.py)."""
    maps = {}
    with torch.no_grad():
        h = F.relu(model.bn1(model.conv1(x)))
        maps["conv1"] = h
        for blk in BLOCKS:
            block = model.get_submodule(blk)
            mid = F.relu(block.bn1(block.conv1(h)))
            maps[f"{blk}.conv1"] = mid
            h = F.relu(block.bn2(block.conv2(mid)) + block.shortcut(h))
            maps[f"{blk}.conv2"] = h
    return maps


def test_hrankplus_keeps_the_highest_mean_feature_map_ranks_at_hrankplus_points():
    model = trained_like()
    calib = calibration()
    ours, p = kept("hrankplus", model, 0.5, calib=calib, calibration_batches=2, batch_size=16)
    totals, images = {}, 0
    for x, _ in calib:
        for conv, fmap in resnet_feature_maps(model, x).items():
            ranks = np.array([[np.linalg.matrix_rank(fmap[i, c].numpy()) for c in range(fmap.shape[1])] for i in range(fmap.shape[0])])
            totals[conv] = totals.get(conv, 0) + ranks.sum(0)
        images += x.shape[0]
    for unit, keep in ours.items():
        n = model.get_submodule(unit).out_channels
        pruned = unit == "conv1" or unit.endswith("conv1") or unit.startswith(("layer1", "layer2"))  # stage-3 outputs stay
        expected = keep_top(totals[unit] / images, int(n * 0.5)) if pruned else list(range(n))
        assert keep == expected, unit


def test_a_channel_scores_the_mean_rank_of_its_maps_over_the_calibration_images():
    """A zeroed filter's maps have rank 0; a random filter's 6x6 maps have full rank 6 on random inputs."""
    conv = torch.nn.Conv2d(1, 3, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight[1] = 0.0
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(4, 1, 6, 6, generator=gen), torch.zeros(4, dtype=torch.long)) for _ in range(2)]
    adapter = HRankPlus(HRankPlus.Hparams(calibration_batches=2, batch_size=4))
    assert adapter.needs_calibration and adapter.calibration_size() == (2, 4)
    assert HRankPlus().calibration_size() == (5, 128)  # the reference's defaults
    scores = adapter.score(context(torch.nn.Sequential(conv), {"0": conv}, batches))["0"]
    assert scores.tolist() == [6.0, 0.0, 6.0]
    assert all(not m._forward_hooks for m in conv.modules())  # its hooks are removed again
