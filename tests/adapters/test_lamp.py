"""Taylor FO, FPGM and LAMP against their papers' formulas, hand-built cases and torch-pruning."""

import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_pruning as tp
from bench.adapters.fpgm import FPGM, distance_sums
from bench.adapters.lamp import LAMP, lamp_scores
from bench.adapters.taylor import Taylor

from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import FeatureMap, PruningContext, Target, get_adapter
from bench.pruning.engine import batchnorms_after, prune


def context(model, layers, calibration=(), example=None):
    example = example if example is not None else calibration[0][0][:1]
    return PruningContext(
        model=model,
        example_inputs=example,
        layers=layers,
        calibration=list(calibration),
        feature_maps={n: FeatureMap(n) for n in layers},
        generator=torch.Generator().manual_seed(0),
        seed=0,
        norms={n: bn for n, bn in batchnorms_after(model, example).items() if n in layers},  # as the engine gives
    )


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_untouched(model, before, training=False):
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules())
    assert model.training is training


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
    pruned = prune(resnet20, "resnet20", LAMP(), Target(ratio=0.97), example_inputs=torch.zeros(1, 1, 16, 16), calibration=[], seed=0)
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


# --- FPGM -------------------------------------------------------------------------------------------

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
    pruned = prune(model, "toy", FPGM(), Target(ratio=0.2), example_inputs=torch.zeros(1, 1, 4, 4), calibration=[], seed=0)
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


# --- Taylor FO --------------------------------------------------------------------------------------


def tiny_model(dead_channel=2):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4),
    )
    with torch.no_grad():
        bn = model[1]
        bn.weight.copy_(torch.tensor([1.5, -0.7, 1.0]))
        bn.bias.copy_(torch.tensor([0.2, 0.3, -0.1]))
        bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.05]))
        bn.running_var.copy_(torch.tensor([0.8, 1.3, 1.1]))
        model[5].weight[:, dead_channel] = 0.0  # this channel's output never reaches the loss
    return model.eval()


def batches(n=3, size=8):
    g = torch.Generator().manual_seed(4)
    return [(torch.randn(size, 1, 6, 6, generator=g), torch.randint(0, 4, (size,), generator=g)) for _ in range(n)]


def taylor_by_hand(model, calibration, variant):
    """Per batch: backward on a copy, then (sum over the filter of g * w)^2; averaged over batches.
    The BN variant is measured as the paper defines it: a gate of ones multiplying the BN output."""
    totals = torch.zeros(3, dtype=torch.float64)
    for inputs, labels in calibration:
        m = copy.deepcopy(model)
        gate = torch.ones(3, requires_grad=True)
        if variant == "bn":
            m[1].register_forward_hook(lambda _m, _i, out, gate=gate: out * gate.view(1, -1, 1, 1))
        F.cross_entropy(m(inputs), labels).backward()
        if variant == "bn":
            contribution = gate.grad
        else:
            contribution = (m[0].weight * m[0].weight.grad).sum((1, 2, 3))
        totals += contribution.double() ** 2
    return totals / len(calibration)


@pytest.mark.parametrize("variant", ["bn", "weight"])
def test_taylor_matches_a_hand_computation_and_ignores_a_dead_filter(variant):
    model, calibration = tiny_model(), batches()
    before = snapshot(model)
    adapter = Taylor(Taylor.Hparams(variant=variant))
    scores = adapter.score(context(model, {"0": model[0]}, calibration))["0"]
    expected = taylor_by_hand(model, calibration, variant)
    assert torch.allclose(scores, expected, rtol=1e-5, atol=1e-12)
    assert scores[2] == 0.0 and bool((scores[:2] > 0).all())
    assert_untouched(model, before)
    assert torch.equal(scores, adapter.score(context(model, {"0": model[0]}, calibration))["0"])  # deterministic


def test_taylor_bn_variant_is_the_bn_parameters_formula():
    model, calibration = tiny_model(), batches(n=1)
    m = copy.deepcopy(model)
    F.cross_entropy(m(calibration[0][0]), calibration[0][1]).backward()
    bn = m[1]
    expected = (bn.weight * bn.weight.grad + bn.bias * bn.bias.grad).double() ** 2  # (γ ∂L/∂γ + β ∂L/∂β)^2
    scores = Taylor().score(context(model, {"0": model[0]}, calibration))["0"]
    assert torch.allclose(scores, expected, rtol=1e-5)


def test_taylor_weight_variant_is_torch_pruning_multivariable_taylor_squared_on_one_batch():
    model, calibration = tiny_model(), batches(n=1)
    m = copy.deepcopy(model)
    F.cross_entropy(m(calibration[0][0]), calibration[0][1]).backward()
    dg = tp.DependencyGraph().build_dependency(m, example_inputs=calibration[0][0][:1])
    group = dg.get_pruning_group(m[0], tp.prune_conv_out_channels, idxs=[0, 1, 2])
    theirs = tp.importance.TaylorImportance(multivariable=True, group_reduction="first", normalizer=None)(group)
    ours = Taylor(Taylor.Hparams(variant="weight")).score(context(model, {"0": model[0]}, calibration))["0"]
    assert torch.allclose(ours, theirs.double() ** 2, rtol=1e-5)


def test_the_engine_finds_the_batchnorm_after_every_resnet_conv(resnet20):
    layers = {n: m for n, m in resnet20.named_modules() if isinstance(m, nn.Conv2d)}
    after = batchnorms_after(resnet20, torch.zeros(1, 1, 16, 16))
    assert after.keys() == layers.keys()
    for name, bn in after.items():
        assert bn is resnet20.get_submodule(name.replace("conv", "bn"))
    assert all(not m._forward_hooks for m in resnet20.modules())


def test_taylor_through_the_core_is_global(resnet20):
    calibration = [(torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(i)), torch.arange(8) % 10) for i in range(2)]
    before = snapshot(resnet20)
    adapter = get_adapter("taylor")()
    assert adapter.allocation == "global" and adapter.needs_gradients and adapter.calibration_size() == (30, 256)
    pruned = prune(resnet20, "resnet20", adapter, Target(ratio=0.5), example_inputs=torch.zeros(1, 1, 16, 16), calibration=calibration, seed=0)
    kept = [k / t for k, t in pruned.structure.units.values() if k < t]
    assert len(set(kept)) > 1  # one threshold over all layers: rates differ between layers
    assert_untouched(resnet20, before)


def test_taylor_needs_calibration_and_a_known_variant():
    model = tiny_model()
    with pytest.raises(BenchError, match="calibration"):
        Taylor().score(context(model, {"0": model[0]}, example=torch.zeros(1, 1, 6, 6)))
    with pytest.raises(BenchError, match="variant"):
        Taylor(Taylor.Hparams(variant="gate"))
