"""FPGM (adapters/fpgm.py): filters ranked by their distance to the others (the geometric median is least
important), against the formula, torch-pruning, and the reference's rule (tests/adapters/parity.py)."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch_pruning as tp
from scipy.spatial.distance import cdist

from bench.adapters.fpgm import FPGM, distance_sums
from bench.errors import BenchError
from bench.pruning import Target
from bench.pruning.job import PruneJob

from tests.adapters.parity import conv_weights, drop_lowest, every_conv, kept
from tests.adapters.scoring import assert_untouched, context, snapshot
from tests.helpers.trained_like import trained_like


def test_fpgm_removes_the_filters_closest_to_the_geometric_median():
    model = trained_like()
    ours, _ = kept("fpgm", model, 0.4)
    for conv in every_conv(model):  # get_filter_similar: int(N * rate_dist) smallest sums of Euclidean distances
        w = conv_weights(model, conv)
        assert ours[conv] == drop_lowest(np.abs(cdist(w, w, "euclidean")).sum(0), int(w.shape[0] * 0.4)), conv


C = torch.tensor([2.0, 0.0, 1.0, 0.0])


A = torch.tensor([1.0, 0.5, 0.0, 0.0])


B = torch.tensor([0.0, 0.0, 0.8, 0.6])


# Two symmetric pairs around C, and C itself: C is the geometric median of the five filters, though
# C - A has a smaller norm (so a norm criterion would remove a different filter).
FILTERS = torch.stack([C + A, C - A, C + B, C - B, C])


def conv_with(filters):
    conv = nn.Conv2d(1, filters.shape[0], 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(filters.view(-1, 1, 2, 2))
    return conv


def test_fpgm_scores_are_sums_of_euclidean_distances_and_the_median_filter_is_least_important():
    conv = conv_with(FILTERS)
    rows = [f.tolist() for f in FILTERS]
    expected = torch.tensor([sum(math.dist(r, q) for q in rows) for r in rows], dtype=torch.float64)
    scores = FPGM().score(context(nn.Sequential(conv), {"0": conv}, example=torch.zeros(1, 1, 2, 2)))["0"]
    assert torch.allclose(scores, expected, rtol=1e-12, atol=0)
    assert int(scores.argmin()) == 4
    assert int(FILTERS.norm(dim=1).argmin()) == 1 and int(FILTERS.abs().sum(1).argmin()) == 1
    l1 = torch.tensor([sum(sum(abs(a - b) for a, b in zip(r, q)) for q in rows) for r in rows], dtype=torch.float64)
    assert torch.allclose(distance_sums(conv.weight, "l1"), l1)
    unit = FILTERS / FILTERS.norm(dim=1, keepdim=True)
    cos = (1 - unit @ unit.T).sum(1).double()
    assert torch.allclose(distance_sums(conv.weight, "cos"), cos, atol=1e-6)


def test_fpgm_prunes_the_geometric_median_filter_through_the_core():
    conv = conv_with(FILTERS)
    model = nn.Sequential(conv, nn.ReLU(), nn.Conv2d(5, 3, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2)).eval()
    before = snapshot(model)
    pruned = PruneJob(model, "toy", FPGM(), Target(ratio=0.2),
                      example_inputs=torch.zeros(1, 1, 4, 4), calibration=[], seed=0).prune()
    assert torch.equal(pruned.model[0].weight, FILTERS[:4].view(4, 1, 2, 2))  # filter 4 (the median) removed
    assert_untouched(model, before)


def test_fpgm_vs_torch_pruning_fpgm_importance():
    """torch-pruning's FPGMImportance measures distances between |w|^p, not between the filters: with
    p=1 and only the conv's own term it equals our L2 sums on |w|, and so on non-negative weights."""
    w = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(3))
    model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv2d(6, 4, 1))
    dg = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, 8, 8))
    theirs_fpgm = tp.importance.FPGMImportance(p=1, group_reduction="first", normalizer=None)
    for weights, same in ((w.abs(), True), (w, False)):
        with torch.no_grad():
            model[0].weight.copy_(weights)
        group = dg.get_pruning_group(model[0], tp.prune_conv_out_channels, idxs=list(range(6)))
        theirs = theirs_fpgm(group).double()
        assert torch.allclose(theirs, distance_sums(weights.abs()), rtol=1e-5)
        assert torch.allclose(theirs, distance_sums(weights), rtol=1e-5) is same


def test_fpgm_rejects_unknown_distances():
    with pytest.raises(BenchError, match="distance"):
        FPGM(FPGM.Hparams(distance="cosine"))
