"""The pruning core (bench/pruning/engine.py): the papers' published sizes reproduced, exact channel removal,
global masks, iterative steps counted against the dense model, soft pruning (zeroing) that the hard prune
agrees with, and one-line errors for targets and scores that do not fit."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.core.counting import count
from bench.data import DATASETS
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, get_adapter, parse_compress_rate
from bench.pruning.engine import Step, Structure, ZeroingPruner, batchnorms_after, prune
from bench.pruning.targets import KeepCounts


CIFAR = torch.zeros(1, 3, 32, 32)
X = torch.zeros(1, 1, 16, 16)  # digits
MODEL = "resnet20"


def _prune(model_name, adapter, target, layout=None):
    model = build_model(model_name, num_classes=10, in_channels=3).eval()
    pruned = prune(model, model_name, get_adapter(adapter)(), target, example_inputs=CIFAR, calibration=[], seed=0, layout=layout)
    return model, pruned


@pytest.mark.parametrize(
    "model_name, rate, params, flops",
    [
        # HRankPlus README (CIFAR-10): params and multiply-adds of its pruned models.
        ("resnet56", "[0.]+[0.18]*29", 0.66e6, 90.35e6),
        ("resnet56", "[0.]+[0.15]*2+[0.4]*27", 0.48e6, 65.94e6),
        ("resnet110", "[0.]+[0.2]*2+[0.3]*18+[0.35]*36", 1.04e6, 140.54e6),
        ("vgg16", "[0.21]*7+[0.75]*5", 2.76e6, 131.17e6),
        # DenseNet-40's 0.39M / 113.08M row: the string NPTM's hrankplus/scripts/*densenet40* run
        # (395,908 params: the README truncates to two decimals)
        ("densenet40", "[0.]+[0.4]*12+[0.]+[0.4]*12+[0.]+[0.4]*12", 0.39e6, 113.08e6),
    ],
)
def test_hrankplus_compress_rates_reproduce_published_sizes(model_name, rate, params, flops):
    _, pruned = _prune(model_name, "random", Target(compress_rate=parse_compress_rate(rate)))
    counts = count(pruned.model, CIFAR)
    assert abs(counts.params - params) <= 0.006e6  # published to two decimals in millions
    assert abs(counts.flops - flops) / flops < 0.002  # HRankPlus counts BN slightly differently


@pytest.mark.parametrize(
    "config, params, flops",
    [("resnet56-A", 0.77e6, 1.12e8), ("resnet56-B", 0.73e6, 9.09e7)],  # PFEC Table 1
)
def test_pfec_named_configurations_reproduce_the_paper(config, params, flops):
    dense, pruned = _prune("resnet56", "l1-norm", Target(config=config))
    counts = count(pruned.model, CIFAR)
    assert abs(counts.params - params) / params < 0.01
    assert abs(counts.flops - flops) / flops < 0.02


def test_resnet56_dense_and_pruned_counts():
    dense, pruned = _prune("resnet56", "l1-norm", Target(ratio=0.5))  # block-internal: half of every block's inside
    d, p = count(dense, CIFAR), count(pruned.model, CIFAR)
    assert d.params == 853_018
    assert 0.45 * d.params < p.params < 0.52 * d.params and 0.45 * d.flops < p.flops < 0.52 * d.flops


def test_pruning_block_outputs_through_padding_shortcuts_gives_a_working_model():
    """The known torch-pruning 1.6 pitfall: pruning every block output of a stage across the
    zero-padding shortcut used to break the classifier. Every stage output is pruned here."""
    rates = "[0.]+[0.5]*2+[0.5]*27"
    dense, pruned = _prune("resnet56", "l1-norm", Target(compress_rate=parse_compress_rate(rates)), layout="hrankplus")
    units = pruned.structure.units
    assert units["layer1.0.conv2"] == (8, 16) and units["layer2.3.conv2"] == (16, 32)
    x = torch.randn(3, 3, 32, 32)
    assert pruned.model.eval()(x).shape == (3, 10)


def test_channel_removal_is_exact_when_removed_channels_are_dead():
    """Zero a VGG conv's filters and BN: removing exactly those channels must not change the output."""
    model = build_model("vgg16", num_classes=10, in_channels=3).eval()
    with torch.no_grad():
        conv, bn = model.features[0], model.features[1]
        conv.weight[:32] = 0
        bn.weight[:32] = 0
        bn.bias[:32] = 0
    pruned = prune(model, "vgg16", get_adapter("l1-norm")(), Target(compress_rate=(0.5,) + (0.0,) * 11),
                   example_inputs=CIFAR, calibration=[], seed=0)
    assert pruned.model.features[0].out_channels == 32
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(pruned.model.eval()(x), model(x), atol=1e-5)


def test_unstructured_masks_are_global_and_exact():
    dense, pruned = _prune("resnet20", "global-magnitude", Target(ratio=0.7))
    total = sum(t for _, t in pruned.structure.units.values())
    kept = sum(k for k, _ in pruned.structure.units.values())
    assert abs(kept / total - 0.3) < 1e-3
    for name, mask in pruned.masks.items():
        weight = pruned.model.get_submodule(name).weight
        assert torch.all(weight[~mask] == 0)


def test_wrong_compress_rate_length_and_config_model_are_clear_errors():
    with pytest.raises(BenchError, match="has 3 entries but resnet56's hrankplus layout takes 30"):
        _prune("resnet56", "random", Target(compress_rate=(0.1, 0.2, 0.3)))
    with pytest.raises(BenchError, match="has 3 entries but resnet56's block-internal layout takes 27"):
        _prune("resnet56", "l1-norm", Target(compress_rate=(0.1, 0.2, 0.3)))
    with pytest.raises(BenchError, match="no pruning layout 'bogus'.*known: hrankplus, block-internal"):
        _prune("resnet56", "l1-norm", Target(ratio=0.5), layout="bogus")
    with pytest.raises(BenchError, match="defined for model 'resnet56'"):
        _prune("resnet20", "l1-norm", Target(config="resnet56-B"))
    with pytest.raises(BenchError, match="no configuration"):
        _prune("resnet56", "l1-norm", Target(config="resnet56-Z"))


def test_hrankplus_densenet_mapping_gives_hrankplus_widths():
    """HRankPlus's DenseNet-40 mapping (its models/cifar10/densenet.py, copied unchanged by NPTM): the
    stem entry prunes nothing, growth layers keep int(12 * (1 - r)), a transition keeps
    floor(pruned input * (1 - r)), and the BatchNorm before it has the pruned width. The string below is
    HRank's (the original HRank repository and NPTM's hrank/scripts run it; its published 0.66M / 167.41M
    is HRank's count of a masked full-width model, Conv and Linear only); through HRankPlus's code it
    gives widths 102 / 180 / 267 and 366,676 parameters, as here. HRankPlus's own 0.39M / 113.08M row is
    the uniform 0.4 string checked in test_hrankplus_compress_rates_reproduce_published_sizes."""
    rates = "[0.0]+[0.1]*6+[0.7]*6+[0.0]+[0.1]*6+[0.7]*6+[0.0]+[0.1]*6+[0.7]*5+[0.0]"
    _, pruned = _prune("densenet40", "random", Target(compress_rate=parse_compress_rate(rates)))
    model = pruned.model
    assert model.conv1.out_channels == 24
    assert [model.blocks[i].conv.out_channels for i in (0, 6, 12, 25)] == [10, 3, 102, 180]
    assert model.blocks[37].conv.out_channels == 12 and model.fc.in_features == 267
    assert count(model, CIFAR).params == 366_676


def test_soft_pruning_refuses_a_layout_whose_removal_is_not_exact():
    model = build_model("resnet20", num_classes=10, in_channels=1)
    with pytest.raises(BenchError, match="needs a full-width layout.*use --layout full-width"):
        ZeroingPruner(model, "resnet20", get_adapter("sfp")(), Target(ratio=0.5), example_inputs=X, calibration=[], seed=0,
                      layout="hrankplus")


def test_a_unit_without_a_score_is_an_error_naming_the_layer():
    class Partial(get_adapter("l1-norm")):
        name = "partial"

        def score(self, ctx):
            scores = super().score(ctx)
            scores.pop("layer2.1.conv1")
            return scores

    model = build_model("resnet20", num_classes=10, in_channels=1)
    with pytest.raises(BenchError, match="partial returned no score for layer layer2.1.conv1"):
        prune(model, "resnet20", Partial(), Target(ratio=0.5), example_inputs=X, calibration=[], seed=0)


def test_the_engine_finds_the_batchnorm_after_every_resnet_conv(resnet20):
    layers = {n: m for n, m in resnet20.named_modules() if isinstance(m, nn.Conv2d)}
    after = batchnorms_after(resnet20, torch.zeros(1, 1, 16, 16))
    assert after.keys() == layers.keys()
    for name, bn in after.items():
        assert bn is resnet20.get_submodule(name.replace("conv", "bn"))
    assert all(not m._forward_hooks for m in resnet20.modules())


def prune_with(name, model, target=None, step=None, reference=None, seed=0, **hp):
    cls = get_adapter(name)
    adapter = cls(cls.Hparams(**hp)) if hp else cls()
    return prune(model, MODEL, adapter, target, example_inputs=X, calibration=[], seed=seed, step=step, reference=reference)


def original_of(structure: Structure) -> Structure:
    return Structure(structure.kind, {u: (t, t) for u, (_, t) in structure.units.items()})


def test_layerwise_steps_reach_the_one_shot_widths_counted_against_the_dense_model(resnet20):
    target = Target(ratio=0.5)
    one_shot = prune_with("l1-norm", resnet20, target)
    first = prune_with("l1-norm", resnet20, target, step=Step(0.5))
    second = prune_with("l1-norm", first.model, target, step=Step(1.0, original_of(first.structure)))
    for unit, (kept, total) in first.structure.units.items():
        pruned_at_all = one_shot.structure.units[unit][0] < total  # the layout keeps some units dense
        assert kept == (max(1, int(total * 0.75 + 1e-9)) if pruned_at_all else total)
    assert {u: k for u, (k, _) in second.structure.units.items()} == {u: k for u, (k, _) in one_shot.structure.units.items()}
    assert second.structure.units.keys() == first.structure.units.keys()
    assert all(t == first.structure.units[u][1] for u, (_, t) in second.structure.units.items())  # dense totals
    assert count(second.model, X).params < count(first.model, X).params < count(resnet20, X).params


def test_unstructured_steps_keep_removed_weights_removed(resnet20):
    target = Target(ratio=0.6)
    first = prune_with("global-magnitude", resnet20, target, step=Step(0.5))
    second = prune_with("global-magnitude", first.model, target, step=Step(1.0, original_of(first.structure), first.masks))
    assert abs(first.structure.density - 0.7) < 0.01 and abs(second.structure.density - 0.4) < 0.01
    for name, mask in first.masks.items():
        assert not (second.masks[name] & ~mask).any()  # nested: nothing removed comes back


def test_global_structured_steps_remove_the_target_fraction_of_all_channels(resnet20):
    target = Target(ratio=0.4)
    resnet20 = build_model(MODEL, num_classes=10, in_channels=1).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # distinct BatchNorm scales, as after training (a fresh net's are all 1)
        for module in resnet20.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.1)
    first = prune_with("slimming", resnet20, target, step=Step(0.5))
    second = prune_with("slimming", first.model, target, step=Step(1.0, original_of(first.structure)))
    one_shot = prune_with("slimming", resnet20, target)

    def removed(pruned):
        return sum(t - k for k, t in pruned.structure.units.values())

    assert removed(second) == removed(one_shot) > 0  # the same total, reached in two steps
    assert abs(removed(second) - 2 * removed(first)) <= 1


def test_a_random_control_follows_the_method_step_by_step(resnet20):
    target = Target(ratio=0.5)
    method1 = prune_with("l1-norm", resnet20, target, step=Step(0.5))
    original = original_of(method1.structure)
    method2 = prune_with("l1-norm", method1.model, target, step=Step(1.0, original))
    control1 = prune_with("random", resnet20, step=Step(0.5), reference=method1.structure, seed=1)
    control2 = prune_with("random", control1.model, step=Step(1.0, original), reference=method2.structure, seed=1)
    assert control1.structure == method1.structure and control2.structure == method2.structure
    assert count(control2.model, X) == count(method2.model, X)


def test_zeroing_prunes_softly_what_the_hard_prune_removes(resnet20):
    model = build_model(MODEL, num_classes=10, in_channels=1)
    model.load_state_dict(resnet20.state_dict())
    sfp = get_adapter("sfp")()
    target = Target(ratio=0.5)
    ZeroingPruner(model, MODEL, sfp, target, example_inputs=X, calibration=[], seed=0).zero(model)
    hard = prune(model, MODEL, sfp, target, example_inputs=X, calibration=[], seed=0)
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
    ZeroingPruner(model, MODEL, sfp, Target(ratio=0.5), example_inputs=X, calibration=[], seed=0).zero(model)
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
    zeroing = ZeroingPruner(model, MODEL, sfp, target, example_inputs=X, calibration=[], seed=0, recalibration=recalibration)
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
    small = prune(model, MODEL, sfp, target, example_inputs=X, calibration=[], seed=0)
    x = torch.randn(32, 1, 16, 16, generator=gen)
    with torch.no_grad():
        soft, hard = model(x), small.model.eval()(x)
    assert (soft - hard).abs().max() < 1e-4
    assert count(small.model, X).flops < 0.6 * count(model, X).flops


def test_unstructured_adapters_refuse_a_speedup(cli, work_in_tmp):
    code, _, err = cli("prune", "--adapter", "global-magnitude", "--speedup", "3", "--json")
    assert code == 2 and "unstructured" in err and "--ratio" in err


def test_keep_counts_must_name_the_models_units():
    spec = DATASETS.get("digits")
    model = build_model("resnet20", num_classes=10, in_channels=1)
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="does not match"):
        prune(model, "resnet20", get_adapter("l1-norm")(), KeepCounts((("nope", 1),), 2.0),
              example_inputs=torch.zeros(1, *spec.input_shape), calibration=[], seed=0)
