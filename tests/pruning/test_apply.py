"""Scores and a target made into a pruned model (bench/pruning/apply.py): the layout an adapter prunes with
(`layout_for`), the checks before anything is scored (`check_target`), the adapter's scores per unit
(`score_units`), what each unit keeps (`plan`) and the removal itself (`prune`): exact where the removed
channels are dead, through the zero-padding shortcuts, and fixed global masks for unstructured pruning."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, get_adapter, parse_compress_rate
from bench.pruning.apply import check_target, layout_for, plan, prune, score_units
from bench.pruning.job import PruneJob
from bench.pruning.layouts import DEPENDENCY_GRAPH

from tests.helpers.pruning import CIFAR, prune_cifar as _prune

pytestmark = pytest.mark.usefixtures("one_thread")

X = torch.zeros(1, 1, 16, 16)  # digits
MODEL = "resnet20"


@pytest.fixture(scope="module")
def dense():
    torch.manual_seed(0)
    return build_model(MODEL, num_classes=10, in_channels=1).eval()


def job(model, adapter="l1-norm", target=Target(ratio=0.5), **fields) -> PruneJob:
    adapter = get_adapter(adapter)() if isinstance(adapter, str) else adapter
    return PruneJob(model, MODEL, adapter, target, example_inputs=X, **fields)


class Unscored(get_adapter("l1-norm")):
    name = "unscored"

    def score(self, ctx):
        raise AssertionError("the checks before pruning must not score")


def plain_convnet() -> nn.Module:
    """A model that offers no pruning layouts of its own: pruned by its dependency graph."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()


# --- the layout, and the checks before scoring --------------------------------------------------------


def test_the_layout_is_the_requested_one_else_the_adapters_else_the_models_default(dense):
    l1, sfp, width = get_adapter("l1-norm")(), get_adapter("sfp")(), get_adapter("width-scaled")()
    assert layout_for(dense, MODEL, l1).name == "block-internal"
    assert layout_for(dense, MODEL, sfp).name == "full-width"
    assert layout_for(dense, MODEL, l1, "full-width").name == "full-width"
    vgg = build_model("vgg16", num_classes=10, in_channels=1)
    assert layout_for(vgg, "vgg16", l1).name == "hrankplus"  # l1-norm's own is not offered: the model's default
    with pytest.raises(BenchError, match="width-scaled needs the 'stage-coupled' layout, which vgg16 does not offer "
                                         r"\(it offers hrankplus; --layout chooses one explicitly\)"):
        layout_for(vgg, "vgg16", width)  # an adapter defined by its layout never falls back
    assert layout_for(vgg, "vgg16", width, "hrankplus").name == "hrankplus"
    assert layout_for(plain_convnet(), "plain", width).name == DEPENDENCY_GRAPH  # a model offering none
    with pytest.raises(BenchError, match="no pruning layout 'bogus'"):
        layout_for(dense, MODEL, l1, "bogus")


def test_check_target_fails_fast_without_scoring(dense):
    assert check_target(job(dense, Unscored())).name == "block-internal"
    assert check_target(job(dense, Unscored(), Target(speedup=3.0))).name == "block-internal"  # reach: bench.pruning.cost
    with pytest.raises(BenchError, match="--speedup is a FLOPs target for structured pruning; global-magnitude is unstructured"):
        check_target(job(dense, "global-magnitude", Target(speedup=3.0)))
    with pytest.raises(BenchError, match="configuration 'resnet56-B' is defined for model 'resnet56', not 'resnet20'"):
        check_target(job(dense, Unscored(), Target(config="resnet56-B")))
    with pytest.raises(BenchError, match="has 2 entries but resnet20's block-internal layout takes 9"):
        check_target(job(dense, Unscored(), Target(compress_rate=(0.1, 0.2))))


# --- scores, the plan and the pruning ---------------------------------------------------------------------


def test_scores_are_per_root_channel_for_structured_units_and_per_weight_for_unstructured(dense):
    p = plan(job(dense))
    dense.train()
    try:
        scores = score_units(dense, get_adapter("l1-norm")(), p.units, example_inputs=X, calibration=[], seed=0)
        assert dense.training  # scored in eval mode, given back as it was
    finally:
        dense.eval()
    assert scores.keys() == p.units.sizes.keys()
    assert all(s.shape == (p.units.sizes[u],) and s.dtype == torch.float64 for u, s in scores.items())
    conv = dense.layer2[1].conv1  # a unit of one conv: its filters' L1 norms
    assert torch.allclose(scores["layer2.1.conv1"], conv.weight.detach().abs().flatten(1).sum(1).double())

    magnitude = plan(job(dense, "global-magnitude")).units
    weights = score_units(dense, get_adapter("global-magnitude")(), magnitude, example_inputs=X, calibration=[], seed=0)
    assert all(w.shape == magnitude.layers[n].weight.shape for n, w in weights.items())

    class Flat(get_adapter("global-magnitude")):
        name = "flat"

        def score(self, ctx):
            return {n: m.weight.detach().abs().flatten() for n, m in ctx.layers.items()}

    with pytest.raises(BenchError, match="adapter returned scores of shape .* expected"):
        score_units(dense, Flat(), magnitude, example_inputs=X, calibration=[], seed=0)


def test_the_plan_changes_nothing_and_prune_removes_what_it_keeps_not(dense):
    before = {k: v.clone() for k, v in dense.state_dict().items()}
    pruning = job(dense)
    p = plan(pruning)
    assert all(torch.equal(before[k], v) for k, v in dense.state_dict().items())
    assert p.structure.kind == "structured" and p.structure.layout == "block-internal"
    assert {u: (int(k.sum()), k.numel()) for u, k in p.keep.items()} == p.structure.units
    pruned = prune(pruning)
    assert pruned.structure == p.structure and pruned.masks == {}
    assert pruned.model.layer2[1].conv1.out_channels == int(p.keep["layer2.1.conv1"].sum()) < dense.layer2[1].conv1.out_channels
    assert all(torch.equal(before[k], v) for k, v in dense.state_dict().items())  # a copy was pruned


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
    pruned = PruneJob(model, "vgg16", get_adapter("l1-norm")(), Target(compress_rate=(0.5,) + (0.0,) * 11),
                      example_inputs=CIFAR, calibration=[], seed=0).prune()
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


def test_a_unit_without_a_score_is_an_error_naming_the_layer():
    class Partial(get_adapter("l1-norm")):
        name = "partial"

        def score(self, ctx):
            scores = super().score(ctx)
            scores.pop("layer2.1.conv1")
            return scores

    model = build_model("resnet20", num_classes=10, in_channels=1)
    with pytest.raises(BenchError, match="partial returned no score for layer layer2.1.conv1"):
        PruneJob(model, "resnet20", Partial(), Target(ratio=0.5), example_inputs=X, calibration=[], seed=0).prune()


def test_unstructured_adapters_refuse_a_speedup(cli, work_in_tmp):
    code, _, err = cli("prune", "--adapter", "global-magnitude", "--speedup", "3", "--json")
    assert code == 2 and "unstructured" in err and "--ratio" in err
