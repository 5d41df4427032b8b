"""L1-norm filter pruning (adapters/l1_norm.py, PFEC): the criterion, the paper's named configurations,
and parity with the reference (tests/adapters/parity.py)."""

import numpy as np
import torch

from bench.adapters.l1_norm import CONFIGS, L1Norm

from tests.adapters.parity import BLOCKS, conv_weights, keep_top, kept
from tests.adapters.scoring import context
from tests.helpers.trained_like import trained_like


def test_l1_norm_keeps_the_largest_l1_filters_of_each_blocks_first_conv():
    model = trained_like()
    ours, _ = kept("l1-norm", model, 0.5)
    expected = {}
    for blk in BLOCKS:  # res56prune.py: layer_id even = a block's first conv; num_keep = int(n * (1 - p))
        w = conv_weights(model, f"{blk}.conv1")
        expected[f"{blk}.conv1"] = keep_top(np.abs(w).sum(1), int(w.shape[0] * 0.5))
    assert {u: k for u, k in ours.items() if u in expected} == expected
    assert all(len(k) == model.get_submodule(u).out_channels for u, k in ours.items() if u not in expected)  # all else dense


def test_scores_are_the_l1_norms_of_the_filters():
    conv = torch.nn.Conv2d(2, 3, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -2.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 1.0, -1.0, 1.0] * 2).view(3, 2, 2, 2))
    scores = L1Norm().score(context(torch.nn.Sequential(conv), {"0": conv}, example=torch.zeros(1, 2, 4, 4)))["0"]
    assert torch.allclose(scores, conv.weight.abs().flatten(1).sum(1)) and scores.tolist() == [3.5, 7.5, 4.0]


def test_named_configurations_prune_the_papers_layers_at_the_stage_rates():
    """PFEC's ResNet-56-B: each block's first conv only, layers 16, 18, 20, 34, 38 and 54 skipped (conv k of
    the count from the stem is block (k - 2) / 2's first conv), stage rates 0.6 / 0.3 / 0.1."""
    b = CONFIGS["resnet56-B"]
    assert b.model == "resnet56" and all(unit.endswith(".conv1") for unit in b.rates)
    skipped = {f"layer{(k - 2) // 2 // 9 + 1}.{(k - 2) // 2 % 9}.conv1" for k in (16, 18, 20, 34, 38, 54)}
    every_first_conv = {f"layer{s}.{i}.conv1" for s in (1, 2, 3) for i in range(9)}
    assert set(b.rates) == every_first_conv - skipped
    assert {unit.split(".")[0]: rate for unit, rate in b.rates.items()} == {"layer1": 0.6, "layer2": 0.3, "layer3": 0.1}
    assert set(CONFIGS["vgg16-A"].rates) == {"features.0", "features.24", "features.27", "features.30", "features.34", "features.37", "features.40"}
    assert set(L1Norm.configs) == set(CONFIGS) and L1Norm.layout == "block-internal"
