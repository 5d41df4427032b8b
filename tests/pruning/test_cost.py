"""Cost targets (`--speedup`): every structured adapter lands on the FLOPs asked for, in its own layout
and under --layout, counted on the genuinely pruned network; records keep what the search found."""

from __future__ import annotations

import json

import pytest
import torch

from bench.core import records
from bench.core.counting import count
from bench.data import DATASETS
from bench.models import build_model
from bench.pruning import get_adapter
from bench.pruning.cost import TOLERANCE, CostSearch, match_speedup, uniform_at_flops
from bench.pruning.engine import keep_counts, prune
from bench.pruning.registry import adapter_names
from bench.pruning.targets import KeepCounts, Target
from bench.ui.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

STRUCTURED = sorted(n for n in adapter_names() if get_adapter(n)().kind == "structured")


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _prune_json(capsys, *argv) -> tuple[int, dict | None, str]:
    code = main(["prune", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_every_structured_adapter_is_covered():
    assert {"l1-norm", "hrankplus", "fpgm", "sfp", "slimming", "taylor", "random"} <= set(STRUCTURED)


# Each call prunes through the CLI as a user would (scoring, search, removal, fvcore): seconds each,
# so the fast lane keeps one (the global search has its own fast test below) and CI runs them all.
FAST = {"l1-norm"}


@pytest.mark.parametrize("adapter", [a if a in FAST else pytest.param(a, marks=pytest.mark.slow) for a in STRUCTURED])
@pytest.mark.parametrize("speedup", [3, 5])
def test_bench_prune_lands_within_half_a_percent_of_the_dense_flops(capsys, adapter, speedup):
    code, report, err = _prune_json(capsys, "--adapter", adapter, "--speedup", str(speedup))
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
    match = match_speedup(model, "resnet20", get_adapter("l1-norm")(), 4.0, example_inputs=x, layout=layout)
    pruned = prune(model, "resnet20", get_adapter("l1-norm")(), match.keep, example_inputs=x, calibration=[], seed=0, layout=layout)
    assert pruned.structure.layout == layout
    assert count(pruned.model, x).flops == match.flops  # the engine builds exactly the network the search counted
    assert match.error <= TOLERANCE


def test_a_layerwise_match_keeps_the_methods_own_widths_at_a_neighbouring_ratio():
    """Each unit keeps what the layout's rate keeps at the ratio found or at the next step up."""
    spec = DATASETS.get("digits")
    model = build_model("resnet20", num_classes=10, in_channels=1)
    x = torch.zeros(1, *spec.input_shape)
    adapter = get_adapter("fpgm")()
    search = CostSearch(model, "resnet20", adapter, example_inputs=x)
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
    match = match_speedup(model, "resnet20", get_adapter("slimming")(), 2.0, example_inputs=x)
    assert match.exact
    # block-internal: each block's first conv is what the layout prunes
    stage1 = [k / 16 for u, k in match.counts.items() if u.startswith("layer1") and u.endswith("conv1")]
    stage3 = [k / 64 for u, k in match.counts.items() if u.startswith("layer3") and u.endswith("conv1")]
    assert max(stage1) < min(stage3)  # the unimportant stage lost more, which one uniform rate never does
    uniform = uniform_at_flops(model, "resnet20", get_adapter("slimming")(), get_adapter("random")(), match.flops,
                               example_inputs=x, layout="block-internal")
    assert uniform.counts != match.counts and uniform.error <= TOLERANCE


def test_an_unreachable_speedup_is_one_line_naming_the_range(capsys):
    code, _, err = _prune_json(capsys, "--adapter", "l1-norm", "--speedup", "1000")
    assert code == 2 and err.count("\n") == 1
    assert "out of reach" in err and "1x to 21.8" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["1", "0.5", "nan", "inf", "-3"])
def test_a_speedup_must_be_above_one(capsys, value):
    code, _, err = _prune_json(capsys, "--adapter", "l1-norm", "--speedup", value)
    assert code == 2 and "--speedup must be a FLOPs speed-up above 1" in err


def test_unstructured_adapters_refuse_a_speedup(capsys):
    code, _, err = _prune_json(capsys, "--adapter", "global-magnitude", "--speedup", "3")
    assert code == 2 and "unstructured" in err and "--ratio" in err


def test_keep_counts_targets_are_refused_with_iterations():
    from bench.evaluation.spec import RunSpec
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="--iterations"):
        RunSpec(adapter="l1-norm", target=Target(speedup=3), iterations=2, threads=1)


def test_keep_counts_must_name_the_models_units():
    spec = DATASETS.get("digits")
    model = build_model("resnet20", num_classes=10, in_channels=1)
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="does not match"):
        prune(model, "resnet20", get_adapter("l1-norm")(), KeepCounts((("nope", 1),), 2.0),
              example_inputs=torch.zeros(1, *spec.input_shape), calibration=[], seed=0)


def test_keep_count_rounding_is_the_methods(capsys):
    """The allocation control's uniform widths follow the method's rounding rule (SFP and FPGM truncate
    the number removed), so a layerwise method's allocation control is its own widths."""
    assert keep_counts({"a": 10}, {"a": ["a"]}, {"a": 0.35}, "removed") == {"a": 7}
    assert keep_counts({"a": 10}, {"a": ["a"]}, {"a": 0.35}, "kept") == {"a": 6}
    spec = DATASETS.get("digits")
    model = build_model("resnet20", num_classes=10, in_channels=1)
    x = torch.zeros(1, *spec.input_shape)
    match = match_speedup(model, "resnet20", get_adapter("fpgm")(), 3.0, example_inputs=x)
    uniform = uniform_at_flops(model, "resnet20", get_adapter("fpgm")(), get_adapter("random")(), match.flops,
                               example_inputs=x, layout="full-width")
    assert uniform.counts == match.counts


@pytest.mark.slow
def test_evaluate_at_a_speedup_records_the_match_and_both_controls(tmp_path, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "dense.pt"
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), weights)
    out = {}
    for adapter in ("taylor", "l1-norm"):
        code = main(["evaluate", "--adapter", adapter, "--speedup", "3", "--protocol", "ft-1", "--seeds", "2",
                     "--allocation-control", "--checkpoint", str(weights), "--out", str(tmp_path / "results"),
                     "--runs-dir", str(tmp_path / "runs"), "--threads", "1"])
        _, err = capsys.readouterr()
        assert code == 0, err
        (path,) = (tmp_path / "results").rglob(f"{adapter}_*.json")
        out[adapter] = records.read(path)
    taylor, l1 = out["taylor"], out["l1-norm"]
    for record in (taylor, l1):
        target, dense = record["target"], record["dense"]["flops"]
        assert target["speedup"] == 3 and target["ratio"] is None and target["description"] == "speedup=3"
        assert abs(record["method"]["flops"] - dense / 3) <= TOLERANCE * dense
        assert target["match"]["flops"] == record["method"]["flops"]
        assert record["spec"]["target"]["speedup"] == 3  # the identity holds the target, not the ratio found
    # taylor allocates globally: its allocation control is another network, at the same FLOPs
    alloc = taylor["allocation_control"]
    assert alloc["structure"] != taylor["method"]["structure"] and len(alloc["runs"]) == 2
    assert abs(alloc["flops"] - taylor["method"]["flops"]) <= TOLERANCE * taylor["dense"]["flops"]
    # l1-norm prunes at one rate: its allocation control is its random control, trained once
    assert l1["allocation_control"] == "same_as_random_control"


@pytest.mark.slow
def test_a_schedule_that_is_another_is_trained_once(tmp_path, capsys):
    """lrw-40 resolves to ft-40 on digits: its evaluation reuses ft-40's runs instead of training them."""
    torch.manual_seed(0)
    weights = tmp_path / "dense.pt"
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), weights)
    out = {}
    for protocol in ("ft-40", "lrw-40"):
        code = main(["evaluate", "--adapter", "l1-norm", "--speedup", "2", "--protocol", protocol, "--seeds", "1",
                     "--no-random-control", "--checkpoint", str(weights), "--out", str(tmp_path / "results"),
                     "--runs-dir", str(tmp_path / "runs"), "--threads", "1"])
        assert code == 0, capsys.readouterr().err
        (path,) = (tmp_path / "results").rglob(f"*_{protocol}_*.json")
        out[protocol] = records.read(path)["method"]["runs"][0]
    assert out["lrw-40"]["reused"] and out["lrw-40"]["run_key"] == out["ft-40"]["run_key"]
    assert out["lrw-40"]["top1"] == out["ft-40"]["top1"]


def test_without_a_random_control_a_uniform_allocation_control_is_trained(tmp_path, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "dense.pt"
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), weights)
    code = main(["evaluate", "--adapter", "l1-norm", "--speedup", "3", "--protocol", "ft-1", "--seeds", "1",
                 "--no-random-control", "--allocation-control", "--checkpoint", str(weights),
                 "--out", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs"), "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    (path,) = (tmp_path / "results").rglob("*.json")
    record = records.read(path)  # valid: it does not name a random control it lacks
    assert record["random_control"] is None and record["allocation_control"]["structure"] == record["method"]["structure"]
