"""Taylor FO (adapters/taylor.py): the first-order importance of a BatchNorm gate or a filter's weights,
against a hand computation, torch-pruning, and the reference's gates (tests/adapters/parity.py)."""

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_pruning as tp

from bench.adapters.taylor import Taylor
from bench.errors import BenchError
from bench.pruning import Target, get_adapter
from bench.pruning.job import PruneJob

from tests.adapters.parity import BLOCKS, calibration, kept
from tests.adapters.scoring import assert_untouched, context, snapshot
from tests.helpers.trained_like import trained_like


def taylor_scores_by_explicit_gates(model, calib):
    """Taylor-FO-BN as the reference computes it: gates of ones after every block's bn1 and one shared
    gate per stage after every block's addition + ReLU (and the stem output, the stage-1 stream);
    per batch (gate * dL/dgate)^2 of the batch-mean loss, a shared gate divided by its uses; mean over
    batches."""
    totals = {}
    for x, y in calib:
        gates = {f"{blk}.conv1": torch.ones(model.get_submodule(f"{blk}.conv1").out_channels, requires_grad=True) for blk in BLOCKS}
        stage = {s: torch.ones(w, requires_grad=True) for s, w in ((1, 16), (2, 32), (3, 64))}
        h = F.relu(model.bn1(model.conv1(x))) * stage[1].view(1, -1, 1, 1)
        for blk in BLOCKS:
            block = model.get_submodule(blk)
            mid = F.relu(block.bn1(block.conv1(h)) * gates[f"{blk}.conv1"].view(1, -1, 1, 1))
            h = F.relu(block.bn2(block.conv2(mid)) + block.shortcut(h)) * stage[int(blk[5])].view(1, -1, 1, 1)
        loss = F.cross_entropy(model.fc(torch.flatten(model.avgpool(h), 1)), y)
        grads = torch.autograd.grad(loss, list(gates.values()) + list(stage.values()))
        for (name, _), g in zip(list(gates.items()) + [(f"stage{s}", None) for s in stage], grads):
            uses = 4 if name == "stage1" else 3 if name.startswith("stage") else 1
            totals[name] = totals.get(name, 0) + g.double().numpy() ** 2 / uses
    return {name: total / len(calib) for name, total in totals.items()}


def test_taylor_keeps_the_globally_most_important_gates_with_shared_stage_gates():
    model = trained_like()
    calib = calibration()
    ours, _ = kept("taylor", model, 0.5, calib=calib, calibration_batches=2, batch_size=16)
    scores = taylor_scores_by_explicit_gates(model, calib)
    units = {f"{blk}.conv1": f"{blk}.conv1" for blk in BLOCKS} | {"conv1": "stage1", "layer2.0.conv2": "stage2", "layer3.0.conv2": "stage3"}
    flat = np.concatenate([scores[units[u]] for u in units])
    threshold = np.sort(flat)[int(flat.size * 0.5) - 1]  # the int(total * ratio) lowest go
    for unit, name in units.items():
        assert ours[unit] == np.nonzero(scores[name] > threshold)[0].tolist(), unit


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


def test_taylor_through_the_core_is_global(resnet20):
    calibration = [(torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(i)), torch.arange(8) % 10) for i in range(2)]
    before = snapshot(resnet20)
    adapter = get_adapter("taylor")()
    assert adapter.allocation == "global" and adapter.needs_gradients and adapter.calibration_size() == (30, 256)
    pruned = PruneJob(resnet20, "resnet20", adapter, Target(ratio=0.5),
                      example_inputs=torch.zeros(1, 1, 16, 16), calibration=calibration, seed=0).prune()
    kept = [k / t for k, t in pruned.structure.units.values() if k < t]
    assert len(set(kept)) > 1  # one threshold over all layers: rates differ between layers
    assert_untouched(resnet20, before)


def test_taylor_needs_calibration_and_a_known_variant():
    model = tiny_model()
    with pytest.raises(BenchError, match="calibration"):
        Taylor().score(context(model, {"0": model[0]}, example=torch.zeros(1, 1, 6, 6)))
    with pytest.raises(BenchError, match="variant"):
        Taylor(Taylor.Hparams(variant="gate"))
