"""Pruning layouts: each adapter's reference layout, the random control on equal terms (identity
routes), positional shortcuts, and full-width pruning that computes exactly what zeroing computes."""

import copy

import pytest
import torch

from bench.api import random_control_adapter
from bench.core.counting import count
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.allocation import Step
from bench.pruning.job import PruneJob
from bench.pruning.registry import adapter_names
from bench.pruning.structure import Structure
from bench.pruning.surgery import identity_routes, zero_filters

from tests.helpers.trained_like import trained_like


pytestmark = pytest.mark.usefixtures("one_thread")

X = torch.zeros(1, 1, 16, 16)
_gen = torch.Generator().manual_seed(0)
CALIBRATION = [(torch.randn(8, 1, 16, 16, generator=_gen), torch.randint(10, (8,), generator=_gen))]
STRUCTURED = [n for n in adapter_names() if get_adapter(n).kind == "structured"]
EXPECTED_LAYOUT = {
    "l1-norm": "block-internal",
    "hrankplus": "hrankplus",
    "fpgm": "full-width",
    "sfp": "full-width",
    "slimming": "block-internal",
    "taylor": "stage-coupled",
    "width-scaled": "stage-coupled",  # at one rate: the width-scaled ResNet (tests/adapters/test_width_scaled.py)
    "random": "hrankplus",  # the model's default
    "tp": "stage-coupled",  # Torch-Pruning's own coupling of a residual stream
}


@pytest.fixture(scope="module")
def models():
    return {name: trained_like(name) for name in ("resnet20", "resnet56")}


def run(name, model, model_name, ratio=0.5, reference=None, seed=0, layout=None):
    adapter = get_adapter(name)()
    return PruneJob(model, model_name, adapter, None if reference else Target(ratio=ratio),
                    example_inputs=X, calibration=CALIBRATION, seed=seed, layout=layout).prune(reference=reference)


def test_every_structured_adapter_declares_its_reference_layout():
    assert set(STRUCTURED) == set(EXPECTED_LAYOUT)
    model = build_model("resnet20", num_classes=10, in_channels=1)
    for name, layout in EXPECTED_LAYOUT.items():
        pruned = run(name, model, "resnet20")
        assert pruned.structure.layout == layout, name
        if get_adapter(name).layout is not None:
            doc = __import__(get_adapter(name).__module__, fromlist=["_"]).__doc__
            assert f"layout `{layout}`" in doc, f"{name}'s docstring does not state its layout"


@pytest.mark.parametrize("model_name", ["resnet20", "resnet56"])
@pytest.mark.parametrize("adapter_name", STRUCTURED)
def test_random_control_keeps_exactly_the_methods_identity_routes(adapter_name, model_name, models):
    dense = models[model_name]
    method = run(adapter_name, dense, model_name)
    control = PruneJob(dense, model_name, random_control_adapter(get_adapter(adapter_name)()), None,
                       example_inputs=X, calibration=[], seed=1).prune(reference=method.structure)
    assert control.structure == method.structure  # the layout travels with the structure
    assert identity_routes(control.model) == identity_routes(method.model)
    assert 0 < identity_routes(method.model) <= 1
    assert count(control.model, X) == count(method.model, X)


def test_identity_route_fractions_at_ratio_half_on_resnet20(models):
    fractions = {name: identity_routes(run(name, models["resnet20"], "resnet20").model) for name in STRUCTURED}
    # HRankPlus: stem and stages 1-2 halve, positional shortcuts keep min(in, out) routes, stage 3 stays:
    # routes 8 * 3 (stage 1) + 8 + 16 * 2 (stage 2) + 16 + 64 * 2 (stage 3) of 16 * 3 + 16 + 32 * 2 + 32 + 64 * 2.
    assert fractions["hrankplus"] == pytest.approx(208 / 288)
    assert fractions["l1-norm"] == fractions["slimming"] == fractions["fpgm"] == fractions["sfp"] == 1.0
    assert 0 < fractions["taylor"] < 1  # every stage's stream is pruned, by a global threshold


def test_hrankplus_blocks_keep_their_own_channels_and_add_by_position(models):
    dense = models["resnet20"]
    adapter = get_adapter("hrankplus")()
    p = PruneJob(dense, "resnet20", adapter, Target(ratio=0.5), example_inputs=X, calibration=CALIBRATION, seed=0).plan()
    kept = {u: p.keep[u].nonzero().flatten().tolist() for u in ("layer1.0.conv2", "layer1.1.conv2")}
    assert kept["layer1.0.conv2"] != kept["layer1.1.conv2"]  # not one shared set
    pruned = run("hrankplus", dense, "resnet20")
    shortcut = pruned.model.layer1[1].shortcut
    assert shortcut.src.tolist() == shortcut.dst.tolist() == list(range(8))  # position i adds to position i


def test_stage_coupled_units_are_one_channel_set_per_stage(models):
    dense = models["resnet20"]
    p = PruneJob(dense, "resnet20", get_adapter("taylor")(), Target(ratio=0.5),
                 example_inputs=X, calibration=CALIBRATION, seed=0).plan()
    assert set(p.units.members["conv1"]) == {"conv1", "layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2"}
    assert set(p.units.members["layer2.0.conv2"]) == {f"layer2.{b}.conv2" for b in range(3)}
    pruned = PruneJob(dense, "resnet20", get_adapter("taylor")(), Target(ratio=0.5),
                      example_inputs=X, calibration=CALIBRATION, seed=0).prune()
    for b in (1, 2):  # within a stage every identity route of the kept channels survives
        shortcut = pruned.model.layer1[b].shortcut
        assert shortcut.src.numel() == shortcut.in_channels == shortcut.out_channels


@pytest.mark.parametrize("model_name", ["resnet20", "resnet56"])
@pytest.mark.parametrize("adapter_name", ["fpgm", "sfp", "random"])
def test_full_width_pruning_computes_what_zeroing_the_filters_computes(adapter_name, model_name, models):
    dense = models[model_name]
    adapter = get_adapter(adapter_name)()
    p = PruneJob(dense, model_name, adapter, Target(ratio=0.5),
                 example_inputs=X, calibration=[], seed=0, layout="full-width").plan()
    zeroed = copy.deepcopy(dense)
    with torch.no_grad():
        zero_filters(zeroed, p.units.groups, {u: (~k).nonzero().flatten().tolist() for u, k in p.keep.items()})
    pruned = PruneJob(dense, model_name, adapter, Target(ratio=0.5),
                      example_inputs=X, calibration=[], seed=0, layout="full-width").prune()
    x = torch.randn(6, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(pruned.model(x), zeroed(x), atol=1e-4)
    assert count(pruned.model, X).flops < 0.6 * count(dense, X).flops
    assert pruned.model.layer1[0].conv2_offset is not None  # removed conv1 channels still feed conv2 their constant


def test_full_width_keeps_the_residual_stream_and_iterates(models):
    dense = models["resnet20"]
    adapter = get_adapter("fpgm")()
    first = PruneJob(dense, "resnet20", adapter, Target(ratio=0.5),
                     example_inputs=X, calibration=[], seed=0).prune(step=Step(0.5))
    assert first.model.layer1[0].bn2.num_features == 12 and first.model.layer1[0].out_scatter.fill.numel() == 16
    original = Structure(first.structure.kind, {u: (t, t) for u, (_, t) in first.structure.units.items()}, first.structure.layout)
    second = PruneJob(first.model, "resnet20", adapter, Target(ratio=0.5),
                      example_inputs=X, calibration=[], seed=0).prune(step=Step(1.0, original))
    assert second.model.layer1[0].bn2.num_features == 8 and second.model.layer1[0].out_scatter.fill.numel() == 16
    assert {u: k for u, (k, _) in second.structure.units.items()} == {
        u: k for u, (k, _) in PruneJob(dense, "resnet20", adapter, Target(ratio=0.5),
                                       example_inputs=X, calibration=[], seed=0).prune().structure.units.items()
    }
    out = second.model(torch.randn(2, 1, 16, 16))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_rounding_follows_each_reference():
    model = build_model("resnet20", num_classes=10, in_channels=1)
    # 16 channels at ratio 0.3: PFEC keeps int(16 * 0.7) = 11; SFP/FPGM remove int(16 * 0.3) = 4 and keep 12.
    assert run("l1-norm", model, "resnet20", 0.3).structure.units["layer1.0.conv1"][0] == 11
    assert run("fpgm", model, "resnet20", 0.3).structure.units["layer1.0.conv1"][0] == 12
    assert run("sfp", model, "resnet20", 0.3).structure.units["layer1.0.conv1"][0] == 12
