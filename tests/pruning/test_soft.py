"""Soft pruning (bench/pruning/soft.py): the `ZeroingPruner` zeroes, in place, what the adapter would remove
now, leaves it free to grow back, masks its gradients and re-estimates the BatchNorm statistics; only a
full-width layout (`check_soft_layout`) makes the final removal compute what the zeroed network computed."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.core.counting import count
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.job import PruneJob
from bench.pruning.layouts import model_layouts
from bench.pruning.soft import ZeroingPruner, check_soft_layout

pytestmark = pytest.mark.usefixtures("one_thread")

X = torch.zeros(1, 1, 16, 16)  # digits
MODEL = "resnet20"


def copy_of(model):
    other = build_model(MODEL, num_classes=10, in_channels=1)
    other.load_state_dict(model.state_dict())
    return other


def zeroed_filters(conv) -> torch.Tensor:
    return conv.weight.flatten(1).abs().sum(1) == 0


def test_soft_pruning_refuses_a_layout_whose_removal_is_not_exact():
    model = build_model("resnet20", num_classes=10, in_channels=1)
    with pytest.raises(BenchError, match="needs a full-width layout.*use --layout full-width"):
        ZeroingPruner(PruneJob(model, "resnet20", get_adapter("sfp")(), Target(ratio=0.5),
                               example_inputs=X, calibration=[], seed=0, layout="hrankplus"))


def test_zeroing_prunes_softly_what_the_hard_prune_removes(resnet20):
    model = build_model(MODEL, num_classes=10, in_channels=1)
    model.load_state_dict(resnet20.state_dict())
    sfp = get_adapter("sfp")()
    target = Target(ratio=0.5)
    ZeroingPruner(PruneJob(model, MODEL, sfp, target, example_inputs=X, calibration=[], seed=0)).zero(model)
    hard = PruneJob(model, MODEL, sfp, target, example_inputs=X, calibration=[], seed=0).prune()
    soft_zero = {n: int((m.weight.flatten(1).abs().sum(1) == 0).sum()) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    removed = sum(t - k for k, t in hard.structure.units.values())
    assert removed > 0 and sum(soft_zero.values()) >= removed
    # the hard prune of the zeroed model keeps exactly the non-zero filters
    for name, module in hard.model.named_modules():
        if isinstance(module, torch.nn.Conv2d) and name in soft_zero:
            assert int((module.weight.flatten(1).abs().sum(1) == 0).sum()) == 0, name


def test_zeroed_filters_can_grow_back(resnet20):
    model = build_model(MODEL, num_classes=10, in_channels=1)
    model.load_state_dict(resnet20.state_dict())
    sfp = get_adapter("sfp")()
    with torch.no_grad():  # a trained net's BatchNorm shifts: at init (0) the ReLU blocks every gradient
        model.layer1[0].bn1.bias.fill_(0.1)
    ZeroingPruner(PruneJob(model, MODEL, sfp, Target(ratio=0.5), example_inputs=X, calibration=[], seed=0)).zero(model)
    conv = model.layer1[0].conv1
    zeroed = conv.weight.flatten(1).abs().sum(1) == 0
    assert zeroed.any()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    loss = F.cross_entropy(model(torch.randn(8, 1, 16, 16)), torch.arange(8))
    loss.backward()
    optimizer.step()
    assert (conv.weight.flatten(1).abs().sum(1)[zeroed] > 0).all()  # soft: they receive gradients


def test_after_the_final_zeroing_the_soft_and_the_small_network_compute_the_same_function(resnet20):
    """SFP reports the network it validated: trained soft (train-mode steps move the weights and the
    BatchNorm statistics, the filters regrow between zeroings), zeroed a last time, then removed."""
    model = build_model(MODEL, num_classes=10, in_channels=1)
    model.load_state_dict(resnet20.state_dict())
    sfp = get_adapter("sfp")()
    target = Target(ratio=0.5)
    gen = torch.Generator().manual_seed(0)
    recalibration = [(torch.randn(16, 1, 16, 16, generator=gen), torch.zeros(16, dtype=torch.long)) for _ in range(2)]
    zeroing = ZeroingPruner(PruneJob(model, MODEL, sfp, target,
                                     example_inputs=X, calibration=[], seed=0), recalibration=recalibration)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    zeroing.zero(model)
    for _epoch in range(3):
        model.train()
        for _ in range(5):
            optimizer.zero_grad()
            F.cross_entropy(model(torch.randn(16, 1, 16, 16, generator=gen)), torch.randint(10, (16,), generator=gen)).backward()
            optimizer.step()
        zeroing.zero(model)  # the hook's after_epoch: what validation then sees
        zeroing.recalibrate(model)
    zeroed = model.conv1.weight.flatten(1).abs().sum(1) == 0  # the stem's zeroed channels are 0 for every input
    assert zeroed.any() and torch.equal(model.bn1.running_var[zeroed], torch.zeros(int(zeroed.sum())))
    assert model.bn1.momentum == 0.1 and model.training
    model.eval()
    small = PruneJob(model, MODEL, sfp, target, example_inputs=X, calibration=[], seed=0).prune()
    x = torch.randn(32, 1, 16, 16, generator=gen)
    with torch.no_grad():
        soft, hard = model(x), small.model.eval()(x)
    assert (soft - hard).abs().max() < 1e-4
    assert count(small.model, X).flops < 0.6 * count(model, X).flops


def test_check_soft_layout_names_the_full_width_layout_to_use(resnet20):
    sfp = PruneJob(resnet20, MODEL, get_adapter("sfp")(), Target(ratio=0.5), example_inputs=X)
    layouts = model_layouts(resnet20)
    check_soft_layout(sfp, layouts["full-width"])
    with pytest.raises(BenchError, match="sfp prunes softly .* resnet20's 'block-internal' is not one \\(use --layout full-width\\)"):
        check_soft_layout(sfp, layouts["block-internal"])
    magnitude = PruneJob(resnet20, MODEL, get_adapter("global-magnitude")(), Target(ratio=0.5), example_inputs=X)
    check_soft_layout(magnitude, layouts["block-internal"])  # unstructured: masks need no layout


def test_the_pruner_acts_on_its_own_model_only(resnet20):
    model = copy_of(resnet20)
    zeroing = ZeroingPruner(PruneJob(model, MODEL, get_adapter("sfp")(), Target(ratio=0.5), example_inputs=X))
    for act in (zeroing.zero, zeroing.mask_gradients):
        with pytest.raises(ValueError, match="pass the model it was built for"):
            act(copy_of(resnet20))
    with pytest.raises(ValueError, match="no recalibration batches"):
        zeroing.recalibrate(model)


def test_the_gradients_of_the_zeroed_filters_are_masked_and_the_others_kept(resnet20):
    model = copy_of(resnet20)
    zeroing = ZeroingPruner(PruneJob(model, MODEL, get_adapter("sfp")(), Target(ratio=0.5), example_inputs=X))
    zeroing.zero(model)
    conv = model.layer1[0].conv1
    zeroed = zeroed_filters(conv)
    assert zeroed.any() and not zeroed.all()
    model.train()
    F.cross_entropy(model(torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(0))), torch.arange(8)).backward()
    zeroing.mask_gradients(model)
    grad = conv.weight.grad.flatten(1).abs().sum(1)
    assert (grad[zeroed] == 0).all() and (grad[~zeroed] > 0).any()


def test_unstructured_soft_pruning_zeroes_weights_in_place(resnet20):
    model = copy_of(resnet20)
    zeroing = ZeroingPruner(PruneJob(model, MODEL, get_adapter("global-magnitude")(), Target(ratio=0.5), example_inputs=X))
    zeroing.zero(model)
    weights = torch.cat([m.weight.flatten() for m in zeroing.units.layers.values()])
    assert abs(float((weights == 0).float().mean()) - 0.5) < 0.01
    assert count(model, X).params == count(resnet20, X).params  # the network keeps its shape
