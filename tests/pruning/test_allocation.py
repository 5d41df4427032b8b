"""From a target to what each pruning unit keeps (bench/pruning/allocation.py): the rates of a target's
compress-rate entries or named configuration, their rounding into channel counts (the published sizes of the
papers' pruned models), one global ranking, a cost target's and a reference structure's counts, and the steps
of iterative pruning, counted against the dense model."""

from __future__ import annotations

import pytest
import torch

from bench.core.counting import count
from bench.data import DATASETS
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, get_adapter, parse_compress_rate
from bench.pruning.allocation import (
    Step,
    conv_rates,
    global_keep_counts,
    keep_count,
    keep_counts,
    matched_counts,
    target_counts,
    top_k_mask,
)
from bench.pruning.job import PruneJob
from bench.pruning.layouts import GENERIC, Layout, model_layouts
from bench.pruning.structure import Structure
from bench.pruning.targets import KeepCounts
from bench.pruning.units import Units

from tests.helpers.pruning import CIFAR, prune_cifar as _prune

X = torch.zeros(1, 1, 16, 16)  # digits
MODEL = "resnet20"


# --- the published sizes of the papers' pruned models -------------------------------------------------


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


# --- iterative pruning: every step counted against the dense model -------------------------------------


def prune_with(name, model, target=None, step=None, reference=None, seed=0, **hp):
    cls = get_adapter(name)
    adapter = cls(cls.Hparams(**hp)) if hp else cls()
    return PruneJob(model, MODEL, adapter, target,
                    example_inputs=X, calibration=[], seed=seed).prune(step=step, reference=reference)


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


# --- the counts themselves --------------------------------------------------------------------------


def test_keep_counts_must_name_the_models_units():
    spec = DATASETS.get("digits")
    model = build_model("resnet20", num_classes=10, in_channels=1)
    with pytest.raises(BenchError, match="does not match"):
        PruneJob(model, "resnet20", get_adapter("l1-norm")(), KeepCounts((("nope", 1),), 2.0),
                 example_inputs=torch.zeros(1, *spec.input_shape), calibration=[], seed=0).prune()


def test_a_rate_rounds_as_the_reference_rounds_and_keeps_at_least_one():
    assert keep_count(10, 0.7) == keep_count(10, 0.7, "removed") == 3  # the epsilon: 0.3 * 10 is not 2
    assert keep_count(10, 0.35) == 6  # int(10 * 0.65) kept (PFEC, HRankPlus)
    assert keep_count(10, 0.35, "removed") == 7  # 10 - int(10 * 0.35) (SFP, FPGM)
    assert keep_count(16, 0.0) == 16 and keep_count(4, 0.99) == keep_count(4, 0.99, "removed") == 1


def test_a_unit_takes_its_first_rated_convs_rate_and_a_relative_one_applies_to_the_widths_it_names():
    sizes = {"a": 8, "b": 8, "t": 16, "d": 5}
    members = {"a": ["a"], "b": ["x", "b"], "t": ["t"], "d": ["d"]}
    counts = keep_counts(sizes, members, {"a": 0.5, "b": 0.25, "t": 0.5}, relative={"t": ("a", "b")})
    assert counts == {"a": 4, "b": 6, "t": 5, "d": 5}  # t: half of the 4 + 6 kept before it; d: no rate, dense


def test_one_global_ranking_removes_exactly_n_breaking_ties_by_position():
    tied = {"a": torch.ones(4), "b": torch.ones(2), "c": torch.ones(3)}
    assert global_keep_counts(tied, ["a", "b"], 3) == {"a": 1, "b": 2, "c": 3}  # c is not covered
    scores = {"a": torch.tensor([0.1, 0.5, 0.9]), "b": torch.tensor([0.2, 0.3])}
    assert global_keep_counts(scores, ["a", "b"], 1) == {"a": 2, "b": 2}
    assert global_keep_counts(scores, ["a", "b"], 3) == {"a": 2, "b": 1}  # b's two lowest go, but one stays
    assert global_keep_counts(scores, ["a", "b"], 0) == {"a": 3, "b": 2}


def test_top_k_keeps_the_highest_scores_and_ties_go_to_the_lower_index():
    assert top_k_mask(torch.tensor([1.0, 3.0, 3.0, 2.0]), 2).tolist() == [False, True, True, False]
    assert top_k_mask(torch.tensor([1.0, 3.0, 3.0, 2.0]), 1).tolist() == [False, True, False, False]
    mask = top_k_mask(torch.arange(6.0).view(2, 3), 4)  # per weight, in the weight's shape
    assert mask.shape == (2, 3) and mask.tolist() == [[False, False, True], [True, True, True]]
    assert not top_k_mask(torch.ones(3), 0).any()


LAYOUT = Layout("toy", "two entries", entries=(("c1",), ("c2", "c3")))
UNITS = {"c1": ["c1"], "c2": ["c2", "c3"], "c4": ["c4"]}


def test_conv_rates_give_each_entry_its_rate_and_leave_the_other_convs_dense():
    l1 = get_adapter("l1-norm")()
    assert conv_rates(MODEL, LAYOUT, UNITS, Target(compress_rate=(0.1, 0.2)), l1) == {"c1": 0.1, "c2": 0.2, "c3": 0.2}
    assert conv_rates(MODEL, LAYOUT, UNITS, Target(ratio=0.5), l1) == {"c1": 0.5, "c2": 0.5, "c3": 0.5}
    # a generic layout: one entry per unit
    assert conv_rates(MODEL, GENERIC, UNITS, Target(compress_rate=(0.1, 0.2, 0.3)), l1) == {
        "c1": 0.1, "c2": 0.2, "c3": 0.2, "c4": 0.3}
    # unstructured: every weight is maskable, whatever the layout
    magnitude = get_adapter("global-magnitude")()
    assert conv_rates(MODEL, LAYOUT, UNITS, Target(ratio=0.5), magnitude) == dict.fromkeys(["c1", "c2", "c3", "c4"], 0.5)
    with pytest.raises(BenchError, match="has 1 entries but resnet20's toy layout takes 2"):
        conv_rates(MODEL, LAYOUT, UNITS, Target(compress_rate=(0.1,)), l1)
    with pytest.raises(BenchError, match="configuration 'resnet56-A' names layers the model lacks"):
        conv_rates("resnet56", LAYOUT, UNITS, Target(config="resnet56-A"), l1)


@pytest.fixture(scope="module")
def units():
    model = build_model(MODEL, num_classes=10, in_channels=1).eval()
    return Units(model, True, X, model_layouts(model)["block-internal"])


def test_a_cost_target_prunes_in_one_step_once_resolved(units):
    l1 = get_adapter("l1-norm")()
    counts = KeepCounts(tuple((u, max(1, s // 2)) for u, s in units.sizes.items()), 2.0)
    assert target_counts(MODEL, l1, counts, units, {}) == {u: max(1, s // 2) for u, s in units.sizes.items()}
    with pytest.raises(BenchError, match="prunes in one step"):
        target_counts(MODEL, l1, counts, units, {}, Step(0.5))
    with pytest.raises(BenchError, match="resolved to the adapter's keep counts first"):
        target_counts(MODEL, l1, Target(speedup=2.0), units, {})


def test_a_reference_structure_gives_its_counts_only_for_the_same_units(units):
    reference = Structure("structured", {u: (1, s) for u, s in units.sizes.items()}, "block-internal")
    assert matched_counts(reference, units.sizes, "structured") == dict.fromkeys(units.sizes, 1)
    with pytest.raises(BenchError, match="does not match"):
        matched_counts(reference, units.sizes, "unstructured")
    with pytest.raises(BenchError, match="does not match"):
        matched_counts(reference, {**units.sizes, "extra": 4}, "structured")
