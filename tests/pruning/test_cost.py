"""Cost targets (`--speedup`): every structured adapter lands on the FLOPs asked for, in its own layout
and under --layout, counted on the genuinely pruned network; records keep what the search found."""

from __future__ import annotations

import json

import pytest
import torch

from bench.core.counting import count
from bench.data import DATASETS
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.allocation import keep_counts
from bench.pruning.cost import TOLERANCE, CostSearch, match_speedup, uniform_at_flops
from bench.pruning.job import PruneJob
from bench.pruning.registry import adapter_names


pytestmark = pytest.mark.usefixtures("one_thread", "work_in_tmp")

STRUCTURED = sorted(n for n in adapter_names() if get_adapter(n)().kind == "structured")


def _prune_json(cli, *argv) -> tuple[int, dict | None, str]:
    code, out, err = cli("prune", *argv, "--json")
    return code, (json.loads(out) if code == 0 else None), err


def test_every_structured_adapter_is_covered():
    assert {"l1-norm", "hrankplus", "fpgm", "sfp", "slimming", "taylor", "random"} <= set(STRUCTURED)


# Each call prunes through the CLI as a user would (scoring, search, removal, fvcore): seconds each,
# so the fast lane keeps one (the global search has its own fast test below) and CI runs them all.
FAST = {"l1-norm"}


@pytest.mark.parametrize("adapter", [a if a in FAST else pytest.param(a, marks=pytest.mark.slow) for a in STRUCTURED])
@pytest.mark.parametrize("speedup", [3, 5])
def test_bench_prune_lands_within_half_a_percent_of_the_dense_flops(cli, adapter, speedup):
    code, report, err = _prune_json(cli, "--adapter", adapter, "--speedup", str(speedup))
    assert code == 0, err
    dense, pruned = report["dense"]["flops"], report["pruned"]["flops"]
    assert abs(pruned - dense / speedup) <= TOLERANCE * dense
    match = report["match"]
    assert match["exact"] and match["flops"] == pruned and match["params"] == report["pruned"]["params"]
    assert match["achieved_speedup"] == pytest.approx(dense / pruned, abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["hrankplus", "block-internal", "full-width", "stage-coupled"])
def test_a_cost_is_reached_under_every_layout(layout):
    spec = DATASETS.get("digits")
    model = build_model("resnet20", num_classes=10, in_channels=1)
    x = torch.zeros(1, *spec.input_shape)
    match = match_speedup(PruneJob(model, "resnet20", get_adapter("l1-norm")(), Target(speedup=4.0),
                                   example_inputs=x, layout=layout))
    pruned = PruneJob(model, "resnet20", get_adapter("l1-norm")(), match.keep, example_inputs=x, calibration=[], seed=0,
                      layout=layout).prune()
    assert pruned.structure.layout == layout
    assert count(pruned.model, x).flops == match.flops  # the engine builds exactly the network the search counted
    assert match.error <= TOLERANCE


def test_a_layerwise_match_keeps_the_methods_own_widths_at_a_neighbouring_ratio():
    """Each unit keeps what the layout's rate keeps at the ratio found or at the next step up."""
    spec = DATASETS.get("digits")
    model = build_model("resnet20", num_classes=10, in_channels=1)
    x = torch.zeros(1, *spec.input_shape)
    adapter = get_adapter("fpgm")()
    search = CostSearch(PruneJob(model, "resnet20", adapter, None, example_inputs=x))
    match = search.match(3.0)
    at_ratio = search.keep_counts(match.ratio)
    below = search.keep_counts(match.ratio - 1e-6)  # `ratio` is the upper bracket when units were stepped
    for unit, kept in match.counts.items():
        assert kept in (at_ratio[unit], below[unit])
    assert match.stepped == sum(match.counts[u] != below[u] for u in match.counts) or match.stepped == 0


def test_a_global_method_searches_its_threshold_on_its_own_scores():
    """Slimming ranks BatchNorm scales over the whole layout: with stage 1 made unimportant it removes
    more there than a uniform rate would, and still lands on the cost."""
    spec = DATASETS.get("digits")
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10, in_channels=1)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.01, 0.1) if name.startswith("layer1") else module.weight.uniform_(0.5, 1.0)
    x = torch.zeros(1, *spec.input_shape)
    match = match_speedup(PruneJob(model, "resnet20", get_adapter("slimming")(), Target(speedup=2.0), example_inputs=x))
    assert match.exact
    # block-internal: each block's first conv is what the layout prunes
    stage1 = [k / 16 for u, k in match.counts.items() if u.startswith("layer1") and u.endswith("conv1")]
    stage3 = [k / 64 for u, k in match.counts.items() if u.startswith("layer3") and u.endswith("conv1")]
    assert max(stage1) < min(stage3)  # the unimportant stage lost more, which one uniform rate never does
    uniform = uniform_at_flops(PruneJob(model, "resnet20", get_adapter("slimming")(), None,
                                        example_inputs=x, layout="block-internal"),
                               get_adapter("random")(), match.flops)
    assert uniform.counts != match.counts and uniform.error <= TOLERANCE


def test_an_unreachable_speedup_is_one_line_naming_the_range(cli):
    code, _, err = _prune_json(cli, "--adapter", "l1-norm", "--speedup", "1000")
    assert code == 2 and err.count("\n") == 1
    assert "out of reach" in err and "1x to 21.8" in err and "Traceback" not in err


def test_keep_count_rounding_is_the_methods(cli):
    """The allocation control's uniform widths follow the method's rounding rule (SFP and FPGM truncate
    the number removed), so a layerwise method's allocation control is its own widths."""
    assert keep_counts({"a": 10}, {"a": ["a"]}, {"a": 0.35}, "removed") == {"a": 7}
    assert keep_counts({"a": 10}, {"a": ["a"]}, {"a": 0.35}, "kept") == {"a": 6}
    spec = DATASETS.get("digits")
    model = build_model("resnet20", num_classes=10, in_channels=1)
    x = torch.zeros(1, *spec.input_shape)
    match = match_speedup(PruneJob(model, "resnet20", get_adapter("fpgm")(), Target(speedup=3.0), example_inputs=x))
    uniform = uniform_at_flops(PruneJob(model, "resnet20", get_adapter("fpgm")(), None,
                                        example_inputs=x, layout="full-width"),
                               get_adapter("random")(), match.flops)
    assert uniform.counts == match.counts
