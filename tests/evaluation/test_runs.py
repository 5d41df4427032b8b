"""One retraining run (bench/evaluation/runs.py): cached by what determines it, so that identical runs train
once and are marked reused (across seeds, arms, evaluations and protocols that are the same schedule); the soft
phase of a pruner that prunes while it trains; calibration drawn alike for every seed; Scratch reinitialization."""

from __future__ import annotations

import pytest
import torch

from bench.api import Execution, evaluate, load_data, specify
from bench.core import records
from bench.core.checkpoint import weights_digest
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.job import PruneJob
from bench.ui.cli import main

from tests.helpers.reporters import Recording


X = torch.zeros(1, 1, 16, 16)


@pytest.mark.slow
def test_a_schedule_that_is_another_is_trained_once(tmp_path, capsys, dense_weights):
    """lrw-40 resolves to ft-40 on digits: its evaluation reuses ft-40's runs instead of training them."""
    out = {}
    for protocol in ("ft-40", "lrw-40"):
        code = main(["evaluate", "--adapter", "l1-norm", "--speedup", "2", "--protocol", protocol, "--seeds", "1",
                     "--no-random-control", "--checkpoint", str(dense_weights), "--out", str(tmp_path / "results"),
                     "--runs-dir", str(tmp_path / "runs"), "--threads", "1"])
        assert code == 0, capsys.readouterr().err
        (path,) = (tmp_path / "results").rglob(f"*_{protocol}_*.json")
        out[protocol] = records.read(path)["method"]["runs"][0]
    assert out["lrw-40"]["reused"] and out["lrw-40"]["run_key"] == out["ft-40"]["run_key"]
    assert out["lrw-40"]["top1"] == out["ft-40"]["top1"]


@pytest.mark.slow
def test_sfp_soft_prunes_first_then_retrains_the_small_network_under_the_protocol(options, dense_state_file):
    """Le & Hua's SFP case study: SFP's own (soft) training, then the protocol on the pruned network.
    The soft phase does not depend on the protocol: a second protocol reuses it and only retrains."""
    hparams = get_adapter("sfp").Hparams(soft_epochs=2)
    opts = dict(adapter="sfp", target=Target(ratio=0.3), hparams=hparams)
    record, path = evaluate(*options(**opts))
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
    assert record["dense"]["weights_sha256"] == weights_digest(torch.load(dense_state_file, weights_only=True))
    assert method["identity_routes"] == control["identity_routes"] == 1.0  # the residual stream keeps its width

    reporter = Recording()
    other, _ = evaluate(*options(**opts, protocol="ft-11"), reporter=reporter)  # 2 digits epochs
    again = other["method"]["runs"][0]
    assert again["soft"]["run_key"] == soft["run_key"] and again["soft"]["reused"]
    assert {k: again["soft"][k] for k in ("top1", "best_val_top1")} == {k: soft[k] for k in ("top1", "best_val_top1")}
    assert any(f"reusing another evaluation's finished run {soft['run_key']}" in m for m in reporter.messages)
    assert len(again["curve"]) == 2 and not again["reused"]  # the retraining itself is new


def test_iterations_are_refused_where_they_do_not_apply(options):
    with pytest.raises(BenchError, match="prunes while it trains"):
        evaluate(*options(adapter="sfp", iterations=2))
    with pytest.raises(BenchError, match="starts from scratch"):
        evaluate(*options(adapter="l1-norm", protocol="scratch-e", iterations=2))
    with pytest.raises(BenchError, match="must be >= 1"):
        evaluate(*options(adapter="l1-norm", iterations=0))


@pytest.mark.slow
def test_a_globally_allocated_calibrated_adapter_prunes_every_seed_alike(options):
    """taylor ranks channels over all layers on calibration batches: the widths must not depend on the seed."""
    hparams = get_adapter("taylor").Hparams(calibration_batches=2, batch_size=32)
    record, _ = evaluate(*options(adapter="taylor", hparams=hparams, seeds=(0, 1), random_control=False))
    assert [r["seed"] for r in record["method"]["runs"]] == [0, 1]


@pytest.mark.slow
def test_identical_runs_are_trained_once_and_marked_reused(tmp_path, dense_weights):
    """Adding a seed retrains only the new seed; a random pruning in l1-norm's layout is l1-norm's own
    random control (same dense weights, structure, protocol and seeds), so it trains nothing."""
    execution = Execution(runs_dir=str(tmp_path / "runs"), records_dir=str(tmp_path / "out"), device="cpu")
    run = lambda **kw: evaluate(specify(torch.device("cpu"), protocol="ft-1", checkpoint=str(dense_weights), **kw), execution, counter)  # noqa: E731

    counter = Recording()
    first, _ = run(adapter="l1-norm", seeds=(0,))
    assert len(counter.trained) == 2 and not any(r["reused"] for arm in ("method", "random_control") for r in first[arm]["runs"])

    counter = Recording()
    two_seeds, _ = run(adapter="l1-norm", seeds=(0, 1))
    assert counter.trained == ["l1-norm seed 1", "random seed 1"]
    assert [r["reused"] for r in two_seeds["method"]["runs"]] == [True, False]
    assert two_seeds["method"]["runs"][0] == {**first["method"]["runs"][0], "reused": True}

    counter = Recording()
    random, _ = run(adapter="random", layout="block-internal", seeds=(0, 1))
    assert counter.trained == []  # both seeds were l1-norm's control runs
    unmarked = lambda runs: [{k: v for k, v in r.items() if k != "reused"} for r in runs]  # noqa: E731
    assert unmarked(random["method"]["runs"]) == unmarked(two_seeds["random_control"]["runs"])
    assert all(r["reused"] for r in random["method"]["runs"])
    assert random["run_id"] != two_seeds["run_id"]


def test_scratch_reinitializes_as_the_dense_model_was_initialized():
    """Scratch protocols reapply the model's own init (Kaiming normal, fan-out, on every conv), not
    PyTorch's default module init, whose std on a 3x3 conv is about 2.4x smaller here."""
    from bench.evaluation.runs import reinitialize

    dense = build_model("resnet20", num_classes=10, in_channels=1).eval()
    model = PruneJob(dense, "resnet20", get_adapter("width-scaled")(), Target(ratio=0.5),
                     example_inputs=X, calibration=[], seed=0).prune().model
    reinitialize(model, seed=3)
    w = model.layer3[1].conv1.weight  # 32 x 32 x 3 x 3
    expected = (2 / (w.shape[0] * 9)) ** 0.5  # Kaiming fan-out std
    assert abs(w.std().item() / expected - 1) < 0.05
    assert not torch.equal(w, dense.layer3[1].conv1.weight[:32, :32])  # nothing inherited
    bn = model.layer3[1].bn1
    assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(bn.running_var, torch.ones_like(bn.running_var))
    again = PruneJob(dense, "resnet20", get_adapter("width-scaled")(), Target(ratio=0.5),
                     example_inputs=X, calibration=[], seed=0).prune().model
    reinitialize(again, seed=3)
    assert torch.equal(again.layer3[1].conv1.weight, w)  # seeded
