"""`PruneJob`, the one front door to pruning: one-shot pruning keeps what the adapter's own scores say,
iterative steps prune what the previous step trained, a cost target lands on its FLOPs, the controls
keep the method's widths, and the checks before training fail fast without scoring."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import torch

from bench.core.counting import count
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, conformance, get_adapter
from bench.pruning.controls import random_adapter, random_control_adapter
from bench.pruning.cost import TOLERANCE
from bench.pruning.job import PruneJob
from bench.pruning.soft import ZeroingPruner
from bench.pruning.targets import KeepCounts

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL = "resnet20"
X = torch.zeros(1, 1, 16, 16)


@pytest.fixture(scope="module")
def dense():
    torch.manual_seed(0)
    return build_model(MODEL, num_classes=10, in_channels=1).eval()


def job(dense, adapter="l1-norm", target=Target(ratio=0.5), **fields) -> PruneJob:
    return PruneJob(dense, MODEL, get_adapter(adapter)(), target, example_inputs=X, **fields)


def block_convs(model) -> dict[str, torch.nn.Conv2d]:
    """The first conv of every residual block: all that l1-norm's block-internal layout prunes."""
    return {n: m for n, m in model.named_modules() if re.fullmatch(r"layer\d\.\d+\.conv1", n)}


# --- pruning once ---------------------------------------------------------------------------------


def test_one_shot_keeps_the_filters_with_the_largest_l1_norms(dense):
    """Computed here from the weights alone: each block's first conv keeps its int(n/2) largest-L1
    filters, in their order; every other unit keeps all its channels."""
    before = {k: v.clone() for k, v in dense.state_dict().items()}
    pruned = job(dense).prune()
    convs, small = block_convs(dense), dict(pruned.model.named_modules())
    for name, conv in convs.items():
        norms = conv.weight.detach().abs().flatten(1).sum(1)
        kept = sorted(torch.topk(norms, int(conv.out_channels * 0.5)).indices.tolist())
        assert torch.equal(small[name].weight, conv.weight[kept]), name
        assert pruned.structure.units[name] == (len(kept), conv.out_channels)
    assert all(k == t for u, (k, t) in pruned.structure.units.items() if u not in convs)
    assert all(torch.equal(before[k], v) for k, v in dense.state_dict().items())  # the job's model is never changed


def test_the_plan_is_what_prune_removes(dense):
    pruning = job(dense)
    plan, pruned = pruning.plan(), pruning.prune()
    assert plan.structure == pruned.structure
    assert {u: int(k.sum()) for u, k in plan.keep.items()} == {u: k for u, (k, _) in pruned.structure.units.items()}


def test_a_job_is_a_value_its_variants_are_replacements(dense):
    pruning = job(dense, seed=3)
    with pytest.raises(AttributeError):
        pruning.seed = 4  # frozen
    other = replace(pruning, seed=4)
    assert other.seed == 4 and pruning.seed == 3 and other.model is pruning.model


def test_one_iteration_is_one_shot(dense):
    (only,) = list(job(dense).steps(1))
    assert only.structure == job(dense).prune().structure


# --- iterative steps ------------------------------------------------------------------------------


def test_steps_reach_the_one_shot_widths_and_prune_what_the_previous_step_trained(dense):
    one_shot = job(dense).prune().structure
    steps = job(dense).steps(2)
    first = next(steps)
    for name, (kept, total) in first.structure.units.items():
        assert kept == (max(1, int(total * 0.75 + 1e-9)) if one_shot.units[name][0] < total else total)
    # "Training" between the steps: make the first kept filter of one block the smallest by far.
    conv = first.model.layer1[0].conv1
    with torch.no_grad():
        conv.weight[0].mul_(1e-6)
    doomed = conv.weight[0].clone()
    second = next(steps)
    assert {u: k for u, (k, _) in second.structure.units.items()} == {u: k for u, (k, _) in one_shot.units.items()}
    assert all(t == first.structure.units[u][1] for u, (_, t) in second.structure.units.items())  # dense totals
    assert not any(torch.equal(w, doomed) for w in second.model.layer1[0].conv1.weight)  # scored on the trained weights
    assert next(steps, None) is None


def test_a_control_follows_the_method_step_by_step_and_stops_where_it_stopped(dense):
    method = [p.structure for p in job(dense).steps(3)]
    control = replace(job(dense), adapter=random_control_adapter(get_adapter("l1-norm")()), target=None, seed=1)
    assert [p.structure for p in control.steps(3, method)] == method
    assert [p.structure for p in control.steps(3, method[:1])] == method[:1]  # the method diverged after one step


def test_unstructured_steps_keep_removed_weights_removed(dense):
    first, second = job(dense, "global-magnitude", Target(ratio=0.6)).steps(2)
    assert abs(first.structure.density - 0.7) < 0.01 and abs(second.structure.density - 0.4) < 0.01
    assert all(not (second.masks[n] & ~m).any() for n, m in first.masks.items())


# --- a cost target --------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ["l1-norm", "slimming"])
def test_a_speedup_is_resolved_to_keep_counts_that_land_on_its_flops(dense, adapter):
    searched, match = job(dense, adapter, Target(speedup=3.0)).resolved()
    assert isinstance(searched.target, KeepCounts) and searched.model is dense
    pruned = searched.prune()
    dense_flops, flops = count(dense, X).flops, count(pruned.model, X).flops
    assert flops == match.flops and match.error <= TOLERANCE
    assert abs(flops - dense_flops / 3.0) <= TOLERANCE * dense_flops


def test_other_targets_resolve_to_themselves(dense):
    pruning = job(dense)
    assert pruning.resolved() == (pruning, None)


def test_the_search_seed_is_the_one_asked_for(dense):
    """An evaluation searches on the scores of its fixed calibration seed and prunes with every run's."""
    searched, _ = job(dense, "random", Target(speedup=2.0), seed=5).resolved(search_seed=0)
    assert searched.seed == 5


# --- the controls ---------------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ["l1-norm", "taylor", "global-magnitude"])
def test_the_random_control_keeps_the_methods_widths(dense, adapter):
    calibration = conformance.make_setup().calibration if get_adapter(adapter).needs_calibration else ()
    pruning = job(dense, adapter, calibration=calibration)
    method = pruning.prune()
    control = pruning.random_control(method.structure, seed=1)
    assert control.structure == method.structure
    assert count(control.model, X, control.masks) == count(method.model, X, method.masks)
    if method.structure.kind == "structured":
        assert {n: p.shape for n, p in control.model.named_parameters()} == {n: p.shape for n, p in method.model.named_parameters()}
    else:
        assert {n: int(m.sum()) for n, m in control.masks.items()} == {n: int(m.sum()) for n, m in method.masks.items()}


def test_the_control_adapter_is_random_pruning_of_the_methods_kind():
    assert random_control_adapter(get_adapter("global-magnitude")()).kind == "unstructured"
    assert random_adapter("structured").name == "random"


def test_the_allocation_control_is_uniform_at_the_methods_flops(dense):
    resolved = job(dense).resolve_layout().name
    layerwise = replace(job(dense), layout=resolved)
    method = layerwise.prune()
    flops = count(method.model, X).flops
    assert layerwise.allocation_control(method.structure, flops) == method.structure  # one rate already
    generator = torch.Generator().manual_seed(0)
    skewed = build_model(MODEL, num_classes=10, in_channels=1).eval()
    with torch.no_grad():  # distinct BatchNorm scales: slimming's global ranking then differs from one rate
        for module in skewed.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.1)
    slimming = replace(job(skewed, "slimming"), layout=job(skewed, "slimming").resolve_layout().name)
    method = slimming.prune()
    flops = count(method.model, X).flops
    uniform = slimming.allocation_control(method.structure, flops)
    assert uniform != method.structure and uniform.layout == method.structure.layout
    assert {u: t for u, (_, t) in uniform.units.items()} == {u: t for u, (_, t) in method.structure.units.items()}
    control = slimming.random_control(uniform)
    assert abs(count(control.model, X).flops - flops) <= TOLERANCE * count(skewed, X).flops


# --- before any training --------------------------------------------------------------------------


class _Unscored:
    """Wraps an adapter class so that scoring fails: a check that scores is caught."""

    @staticmethod
    def make(name: str):
        adapter = get_adapter(name)()

        def score(ctx):
            raise AssertionError("the checks before training must not score")

        adapter.score = score
        return adapter


def test_preflight_returns_the_layout_without_scoring(dense):
    pruning = replace(job(dense, target=Target(speedup=3.0)), adapter=_Unscored.make("l1-norm"))
    assert pruning.preflight().name == "block-internal"
    slimming = replace(job(dense, target=Target(speedup=3.0)), adapter=_Unscored.make("slimming"))
    assert slimming.preflight().name == slimming.resolve_layout().name


@pytest.mark.parametrize("adapter, target, layout, message", [
    ("l1-norm", Target(speedup=1000.0), None, "out of reach"),
    ("global-magnitude", Target(speedup=3.0), None, "unstructured"),
    ("l1-norm", Target(compress_rate=(0.1, 0.2)), None, "has 2 entries"),
    ("l1-norm", Target(ratio=0.5), "bogus", "no pruning layout 'bogus'"),
    ("sfp", Target(ratio=0.5), "hrankplus", "needs a full-width layout"),
])
def test_preflight_fails_fast(dense, adapter, target, layout, message):
    with pytest.raises(BenchError, match=message):
        job(dense, adapter, target, layout=layout).preflight()


def test_check_target_does_not_ask_for_a_soft_pruners_layout(dense):
    """`bench prune` removes what a soft pruner would zero in any layout; only training needs full width."""
    assert job(dense, "sfp", layout="hrankplus").check_target().name == "hrankplus"


# --- soft pruning and conformance -----------------------------------------------------------------


def test_the_soft_pruner_zeroes_what_pruning_removes(dense):
    model = build_model(MODEL, num_classes=10, in_channels=1).eval()
    model.load_state_dict(dense.state_dict())
    soft = job(model, "sfp").soft_pruner()
    assert isinstance(soft, ZeroingPruner) and soft.model is model
    soft.zero(model)
    removed = sum(t - k for k, t in job(dense, "sfp").prune().structure.units.values())
    zero_filters = sum(int((m.weight.flatten(1).abs().sum(1) == 0).sum()) for m in block_convs(model).values())
    assert removed > 0 and zero_filters > 0
    small = job(model, "sfp").prune().model  # the zeroed channels removed: the same function
    with torch.no_grad():
        assert torch.allclose(model(torch.ones(2, 1, 16, 16)), small(torch.ones(2, 1, 16, 16)), atol=1e-4)


def test_conformance_prunes_through_the_job():
    setup = conformance.make_setup()
    assert isinstance(conformance.job("l1-norm", setup), PruneJob)
    results = conformance.check_adapter("l1-norm", setup, report=None)
    assert [failure for _, failure in results] == [None] * len(conformance.CHECKS)
