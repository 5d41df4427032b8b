"""Pruners that act during training (SFP's soft pruning, slimming's sparsity penalty) and iterative
pruning (`--iterations K`): the engine's steps, the training hooks, and both end to end."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.api import Execution, dense_config, evaluate, load_data, specify
from bench.core import records
from bench.core.checkpoint import weights_digest
from bench.core.config import config_hash
from bench.core.counting import count
from bench.core.train import TrainSpec, train
from bench.errors import BenchError
from bench.infra.progress import SilentReporter
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.engine import Step, Structure, ZeroingPruner, prune

MODEL = "resnet20"
X = torch.zeros(1, 1, 16, 16)


@pytest.fixture(scope="module")
def dense():
    torch.manual_seed(0)
    return build_model(MODEL, num_classes=10, in_channels=1).eval()


def prune_with(name, model, target=None, step=None, reference=None, seed=0, **hp):
    cls = get_adapter(name)
    adapter = cls(cls.Hparams(**hp)) if hp else cls()
    return prune(model, MODEL, adapter, target, example_inputs=X, calibration=[], seed=seed, step=step, reference=reference)


def original_of(structure: Structure) -> Structure:
    return Structure(structure.kind, {u: (t, t) for u, (_, t) in structure.units.items()})


# --- iterative steps in the engine ----------------------------------------------------------------


def test_layerwise_steps_reach_the_one_shot_widths_counted_against_the_dense_model(dense):
    target = Target(ratio=0.5)
    one_shot = prune_with("l1-norm", dense, target)
    first = prune_with("l1-norm", dense, target, step=Step(0.5))
    second = prune_with("l1-norm", first.model, target, step=Step(1.0, original_of(first.structure)))
    for unit, (kept, total) in first.structure.units.items():
        pruned_at_all = one_shot.structure.units[unit][0] < total  # the layout keeps some units dense
        assert kept == (max(1, int(total * 0.75 + 1e-9)) if pruned_at_all else total)
    assert {u: k for u, (k, _) in second.structure.units.items()} == {u: k for u, (k, _) in one_shot.structure.units.items()}
    assert second.structure.units.keys() == first.structure.units.keys()
    assert all(t == first.structure.units[u][1] for u, (_, t) in second.structure.units.items())  # dense totals
    assert count(second.model, X).params < count(first.model, X).params < count(dense, X).params


def test_unstructured_steps_keep_removed_weights_removed(dense):
    target = Target(ratio=0.6)
    first = prune_with("global-magnitude", dense, target, step=Step(0.5))
    second = prune_with("global-magnitude", first.model, target, step=Step(1.0, original_of(first.structure), first.masks))
    assert abs(first.structure.density - 0.7) < 0.01 and abs(second.structure.density - 0.4) < 0.01
    for name, mask in first.masks.items():
        assert not (second.masks[name] & ~mask).any()  # nested: nothing removed comes back


def test_global_structured_steps_remove_the_target_fraction_of_all_channels(dense):
    target = Target(ratio=0.4)
    dense = build_model(MODEL, num_classes=10, in_channels=1).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # distinct BatchNorm scales, as after training (a fresh net's are all 1)
        for module in dense.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.1)
    first = prune_with("slimming", dense, target, step=Step(0.5))
    second = prune_with("slimming", first.model, target, step=Step(1.0, original_of(first.structure)))
    one_shot = prune_with("slimming", dense, target)

    def removed(pruned):
        return sum(t - k for k, t in pruned.structure.units.values())

    assert removed(second) == removed(one_shot) > 0  # the same total, reached in two steps
    assert abs(removed(second) - 2 * removed(first)) <= 1


def test_a_random_control_follows_the_method_step_by_step(dense):
    target = Target(ratio=0.5)
    method1 = prune_with("l1-norm", dense, target, step=Step(0.5))
    original = original_of(method1.structure)
    method2 = prune_with("l1-norm", method1.model, target, step=Step(1.0, original))
    control1 = prune_with("random", dense, step=Step(0.5), reference=method1.structure, seed=1)
    control2 = prune_with("random", control1.model, step=Step(1.0, original), reference=method2.structure, seed=1)
    assert control1.structure == method1.structure and control2.structure == method2.structure
    assert count(control2.model, X) == count(method2.model, X)


# --- soft pruning (SFP) ---------------------------------------------------------------------------


def test_zeroing_prunes_softly_what_the_hard_prune_removes(dense):
    model = build_model(MODEL, num_classes=10, in_channels=1)
    model.load_state_dict(dense.state_dict())
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


def test_zeroed_filters_can_grow_back(dense):
    model = build_model(MODEL, num_classes=10, in_channels=1)
    model.load_state_dict(dense.state_dict())
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


def test_after_the_final_zeroing_the_soft_and_the_small_network_compute_the_same_function(dense):
    """SFP reports the network it validated: trained soft (train-mode steps move the weights and the
    BatchNorm statistics, the filters regrow between zeroings), zeroed a last time, then removed."""
    model = build_model(MODEL, num_classes=10, in_channels=1)
    model.load_state_dict(dense.state_dict())
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


# --- slimming's sparsity penalty ------------------------------------------------------------------


def test_the_penalty_adds_the_l1_subgradient_of_the_batchnorm_scales(dense):
    model = build_model(MODEL, num_classes=10, in_channels=1)
    model.load_state_dict(dense.state_dict())
    with torch.no_grad():
        model.bn1.weight[0] = -2.0
    hook = get_adapter("slimming")(get_adapter("slimming").Hparams(sparsity=0.5)).dense_hook()
    model.train()
    F.cross_entropy(model(torch.randn(4, 1, 16, 16)), torch.arange(4)).backward()
    before = model.bn1.weight.grad.clone()
    hook.after_backward(model)
    assert torch.allclose(model.bn1.weight.grad - before, 0.5 * torch.sign(model.bn1.weight.detach()))
    assert get_adapter("slimming")(get_adapter("slimming").Hparams(sparsity=0.0)).dense_hook() is None


def test_penalized_dense_training_is_cached_apart_from_the_shared_baseline():
    data = load_data("digits", torch.device("cpu"))
    hook = get_adapter("slimming")().dense_hook()
    plain, penalized = dense_config(MODEL, data, 0), dense_config(MODEL, data, 0, hook.identity())
    assert "regularizer" not in plain and config_hash(plain) != config_hash(penalized)


def test_the_penalty_shrinks_batchnorm_scales_in_training():
    data = load_data("digits", torch.device("cpu"))
    spec = TrainSpec(epochs=1, batch_size=128, lr_at=lambda step: 0.05, momentum=0.9, nesterov=False, weight_decay=0.0)
    l1 = {}
    slimming = get_adapter("slimming")
    for sparsity in (0.0, 0.05):
        torch.manual_seed(0)
        model = build_model(MODEL, num_classes=10, in_channels=1)
        hooks = [slimming(slimming.Hparams(sparsity=sparsity)).dense_hook()] if sparsity else []
        train(model, data, spec, seed=0, hooks=hooks)
        l1[sparsity] = sum(float(m.weight.detach().abs().sum()) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert l1[0.05] < 0.95 * l1[0.0]  # measured: 0.88


# --- end to end -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("dense") / "dense.pt"
    torch.manual_seed(0)
    torch.save(build_model(MODEL, num_classes=10, in_channels=1).state_dict(), path)
    return str(path)


def options(tmp_path, checkpoint, **kw):
    """(spec, execution) for `evaluate(*options(...))`: one seed of ft-1 from fixed dense weights."""
    spec = specify(torch.device("cpu"), **{**dict(protocol="ft-1", seeds=(0,), checkpoint=checkpoint), **kw})
    return spec, Execution(runs_dir=str(tmp_path / "runs"), records_dir=str(tmp_path / "out"), device="cpu")


@pytest.mark.slow
def test_iterative_evaluation_records_every_step_and_resumes(tmp_path, checkpoint):
    opts = options(tmp_path, checkpoint, adapter="l1-norm", iterations=2, target=Target(ratio=0.5))
    record, path = evaluate(*opts)
    assert records.read(path) == record
    assert record["protocol"]["iterations"] == 2
    method, control = record["method"], record["random_control"]
    steps = method["runs"][0]["steps"]
    assert [s["step"] for s in steps] == [1, 2] and steps[0]["flops"] > steps[1]["flops"] == method["flops"]
    assert [s["structure"] for s in steps] == [s["structure"] for s in control["runs"][0]["steps"]]
    assert method["runs"][0]["top1"] == steps[-1]["top1"]

    reporter = Messages()
    assert evaluate(*opts, reporter=reporter)[0] == record  # the record is there: nothing runs
    assert len(reporter.seen) == 1 and "already in" in reporter.seen[0]
    path.unlink()
    again, _ = evaluate(*opts, reporter=reporter)
    assert sum("reusing its own finished run" in m for m in reporter.seen) == 4  # 2 arms x 2 steps: nothing retrained
    assert again["method"]["runs"] == method["runs"] and again["run_id"] == record["run_id"]


class Messages(SilentReporter):
    def __init__(self):
        self.seen = []

    def message(self, text):
        self.seen.append(text)


@pytest.mark.slow
def test_sfp_soft_prunes_first_then_retrains_the_small_network_under_the_protocol(tmp_path, checkpoint):
    """Le & Hua's SFP case study: SFP's own (soft) training, then the protocol on the pruned network.
    The soft phase does not depend on the protocol: a second protocol reuses it and only retrains."""
    hparams = get_adapter("sfp").Hparams(soft_epochs=2)
    opts = dict(adapter="sfp", target=Target(ratio=0.3), hparams=hparams)
    record, path = evaluate(*options(tmp_path, checkpoint, **opts))
    records.read(path)  # the schema holds the soft phase
    method, control = record["method"], record["random_control"]
    assert method["structure"] == control["structure"] and method["flops"] < record["dense"]["flops"]
    run = method["runs"][0]
    soft = run["soft"]
    recipe = load_data("digits", torch.device("cpu")).spec.recipe
    assert soft["epochs"] == 2 and soft["lr_max"] == pytest.approx(0.1 * recipe.lr)
    assert soft["top1"] is not None and run["top1"] is not None and not soft["reused"]
    assert len(run["curve"]) == 1  # the protocol's one epoch: the soft phase is not retraining
    assert "soft" not in control["runs"][0]  # the control has no soft phase of its own
    assert record["layout"]["name"] == method["structure"]["layout"] == "full-width"
    assert record["dense"]["weights_sha256"] == weights_digest(torch.load(checkpoint, weights_only=True))
    assert method["identity_routes"] == control["identity_routes"] == 1.0  # the residual stream keeps its width

    reporter = Messages()
    other, _ = evaluate(*options(tmp_path, checkpoint, **opts, protocol="ft-11"), reporter=reporter)  # 2 digits epochs
    again = other["method"]["runs"][0]
    assert again["soft"]["run_key"] == soft["run_key"] and again["soft"]["reused"]
    assert {k: again["soft"][k] for k in ("top1", "best_val_top1")} == {k: soft[k] for k in ("top1", "best_val_top1")}
    assert any(f"reusing another evaluation's finished run {soft['run_key']}" in m for m in reporter.seen)
    assert len(again["curve"]) == 2 and not again["reused"]  # the retraining itself is new


def test_soft_pruning_in_a_layout_that_is_not_full_width_is_refused_before_any_training(tmp_path, checkpoint):
    with pytest.raises(BenchError, match="needs a full-width layout.*use --layout full-width"):
        evaluate(*options(tmp_path, checkpoint, adapter="sfp", layout="hrankplus"))
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("result.json"))


def test_iterations_are_refused_where_they_do_not_apply(tmp_path, checkpoint):
    with pytest.raises(BenchError, match="prunes while it trains"):
        evaluate(*options(tmp_path, checkpoint, adapter="sfp", iterations=2))
    with pytest.raises(BenchError, match="starts from scratch"):
        evaluate(*options(tmp_path, checkpoint, adapter="l1-norm", protocol="scratch-e", iterations=2))
    with pytest.raises(BenchError, match="must be >= 1"):
        evaluate(*options(tmp_path, checkpoint, adapter="l1-norm", iterations=0))


@pytest.mark.slow
def test_a_globally_allocated_calibrated_adapter_prunes_every_seed_alike(tmp_path, checkpoint):
    """taylor ranks channels over all layers on calibration batches: the widths must not depend on the seed."""
    hparams = get_adapter("taylor").Hparams(calibration_batches=2, batch_size=32)
    record, _ = evaluate(*options(tmp_path, checkpoint, adapter="taylor", hparams=hparams, seeds=(0, 1), random_control=False))
    assert [r["seed"] for r in record["method"]["runs"]] == [0, 1]
