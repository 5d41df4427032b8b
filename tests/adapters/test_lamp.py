"""LAMP (adapters/lamp.py): layer-adaptive magnitude scores against the paper's definition, hand-built cases
and torch-pruning's normalizer."""

import pytest
import torch
import torch.nn as nn
import torch_pruning as tp

from bench.adapters.lamp import LAMP, lamp_scores
from bench.models import build_model
from bench.pruning import Target
from bench.pruning.job import PruneJob

from tests.adapters.scoring import assert_untouched, context, snapshot


# --- LAMP -------------------------------------------------------------------------------------------


def lamp_by_definition(weight):
    """The paper's definition, written out: w_u^2 over the sum of w_v^2 for v >= u in magnitude order."""
    flat = [float(x) for x in weight.flatten()]
    order = sorted(range(len(flat)), key=lambda i: (flat[i] ** 2, i))
    rank = {i: r for r, i in enumerate(order)}
    scores = [flat[u] ** 2 / sum(flat[v] ** 2 for v in order[rank[u]:]) for u in range(len(flat))]
    return torch.tensor(scores, dtype=torch.float64).view(weight.shape)


def test_lamp_scores_follow_the_formula_on_a_hand_made_tensor():
    w = torch.tensor([[0.5, -1.0], [2.0, 0.1], [-0.3, 1.5]])
    # squares .25 1 4 .01 .09 2.25; ascending suffix sums 7.6 7.59 7.5 7.25 6.25 4
    expected = torch.tensor([[0.25 / 7.5, 1 / 7.25], [1.0, 0.01 / 7.6], [0.09 / 7.59, 2.25 / 6.25]], dtype=torch.float64)
    assert torch.allclose(lamp_scores(w), expected, rtol=1e-6, atol=0)
    assert torch.allclose(lamp_scores(w), lamp_by_definition(w), rtol=1e-6, atol=0)
    w4 = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(lamp_scores(w4), lamp_by_definition(w4), rtol=1e-6, atol=0)


def test_lamp_edge_cases_are_finite_and_deterministic():
    assert torch.equal(lamp_scores(torch.zeros(2, 3)), torch.zeros(2, 3, dtype=torch.float64))
    tied = lamp_scores(torch.tensor([0.0, 1.0, -1.0, 1.0]))
    assert torch.allclose(tied, torch.tensor([0.0, 1 / 3, 1 / 2, 1.0], dtype=torch.float64))  # ties by index


@pytest.fixture(scope="module")
def resnet20():
    torch.manual_seed(0)
    return build_model("resnet20", num_classes=10, in_channels=1).eval()


def test_lamp_top_weight_of_every_layer_scores_one_and_survives_any_ratio(resnet20):
    convs = {n: m for n, m in resnet20.named_modules() if isinstance(m, nn.Conv2d)}
    for name, conv in convs.items():
        s = lamp_scores(conv.weight)
        assert s.flatten()[conv.weight.abs().argmax()] == 1.0 and s.max() == 1.0
        # monotone in magnitude within a layer
        by_magnitude = s.flatten()[conv.weight.detach().abs().flatten().argsort(stable=True)]
        assert bool((by_magnitude[1:] >= by_magnitude[:-1]).all())
    pruned = PruneJob(resnet20, "resnet20", LAMP(), Target(ratio=0.97),
                      example_inputs=torch.zeros(1, 1, 16, 16), calibration=[], seed=0).prune()
    for name, mask in pruned.masks.items():
        assert mask.flatten()[convs[name].weight.abs().argmax()], name
    sparsities = {n: 1 - k / t for n, (k, t) in pruned.structure.units.items()}
    assert max(sparsities.values()) - min(sparsities.values()) > 0.2  # layer-adaptive, not uniform
    assert abs(pruned.structure.density - 0.03) < 0.001


def test_lamp_agrees_with_torch_pruning_lamp_normalizer():
    w = torch.randn(64, 64, 3, 3, generator=torch.Generator().manual_seed(2))  # ResNet-20's largest conv
    theirs = tp.importance.LAMPImportance()._lamp(w.pow(2).flatten()).view(w.shape)
    ours = lamp_scores(w)
    assert torch.allclose(ours, theirs.double(), rtol=2e-4, atol=0)
    assert torch.equal(ours.flatten().argsort(stable=True), w.abs().flatten().argsort(stable=True))


def test_lamp_scoring_leaves_the_model_unchanged(resnet20):
    before = snapshot(resnet20)
    layers = {n: m for n, m in resnet20.named_modules() if isinstance(m, nn.Conv2d)}
    scores = LAMP().score(context(resnet20, layers, example=torch.zeros(1, 1, 16, 16)))
    assert scores.keys() == layers.keys() and all(scores[n].shape == m.weight.shape for n, m in layers.items())
    assert_untouched(resnet20, before)
