"""The dense checkpoints shipped in submissions/dense/: intact, loadable, and what records are pointed at."""

from __future__ import annotations

import json

import pytest
import torch

from bench import api
from bench.core import shipped
from bench.core.checkpoint import weights_digest
from bench.core.config import file_digest
from bench.data import DATASETS
from bench.models import build_model
from bench.ui.cli import main


def test_the_index_lists_both_reference_baselines():
    names = {(c.model, c.dataset, c.adapter) for c in shipped.checkpoints()}
    assert {("resnet20", "digits", None), ("resnet20", "digits", "slimming")} <= names


@pytest.mark.parametrize("checkpoint", shipped.checkpoints(), ids=lambda c: c.file)
def test_each_shipped_checkpoint_is_the_file_its_index_names(checkpoint):
    assert checkpoint.path.is_file() and checkpoint.path.stat().st_size < 2_000_000
    assert file_digest(checkpoint.path) == checkpoint.sha256  # a run's identity
    model = api.new_model(checkpoint.model, DATASETS.get(checkpoint.dataset), torch.device("cpu"))
    api.load_checkpoint(model, checkpoint.path)
    assert weights_digest(model.state_dict()) == checkpoint.weights_sha256  # a record's dense weights


def test_a_run_is_pointed_at_its_adapters_own_baseline_or_the_shared_one():
    assert shipped.for_run("resnet20", "digits", "slimming").file == "digits-resnet20-slimming.pt"
    assert shipped.for_run("resnet20", "digits", "l1-norm").file == "digits-resnet20.pt"
    assert shipped.for_run("resnet56", "cifar10", "l1-norm") is None


def test_the_warning_names_the_checkpoint_and_stays_quiet_for_shipped_weights():
    line = shipped.unshared_warning("f" * 64, "resnet20", "digits", "taylor", "taylor_x.json")
    assert line.startswith("warning:") and "\n" not in line
    assert "--checkpoint submissions/dense/digits-resnet20.pt" in line
    shared = shipped.checkpoints()[0]
    assert shipped.unshared_warning(shared.weights_sha256, "resnet20", "digits", "taylor", "x") is None


def _evaluate(tmp_path, checkpoint, out):
    return main(["evaluate", "--adapter", "l1-norm", "--ratio", "0.5", "--protocol", "ft-1", "--seeds", "1",
                 "--no-random-control", "--checkpoint", str(checkpoint), "--out", str(out),
                 "--runs-dir", str(tmp_path / "runs"), "--threads", "1"])


@pytest.mark.slow
def test_evaluate_warns_when_its_dense_baseline_is_shared_with_no_record(tmp_path, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "mine.pt"
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), weights)
    assert _evaluate(tmp_path, weights, tmp_path / "alone") == 0
    err = capsys.readouterr().err
    assert "shared with no other record" in err and "--checkpoint submissions/dense/digits-resnet20.pt" in err
    assert _evaluate(tmp_path, shipped.for_run("resnet20", "digits", "l1-norm").path, tmp_path / "reference") == 0
    assert "shared with no other record" not in capsys.readouterr().err


@pytest.mark.slow
def test_train_exports_a_checkpoint_once(tmp_path, capsys, monkeypatch):
    """`bench train --export` writes the weights `--checkpoint` takes, and never replaces a file."""
    from bench.evaluation import dense as dense_module

    monkeypatch.setattr(dense_module, "recipe_spec", _one_epoch(dense_module.recipe_spec))
    target = tmp_path / "w.pt"
    args = ["train", "--runs-dir", str(tmp_path / "runs"), "--export", str(target)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert target.is_file() and file_digest(target) in out
    model = build_model("resnet20", num_classes=10, in_channels=1)
    api.load_checkpoint(model, target)
    assert main(args) == 2 and "already exists" in capsys.readouterr().err


def _one_epoch(recipe_spec):
    import dataclasses

    return lambda data: dataclasses.replace(recipe_spec(data), epochs=1)


def test_sweep_grids_take_speedups_a_checkpoint_per_adapter_and_the_allocation_control(tmp_path):
    from bench.sweep.grid import parse_grid

    shared = shipped.for_run("resnet20", "digits", "l1-norm").path
    own = shipped.for_run("resnet20", "digits", "slimming").path
    grid = parse_grid(
        f"""
protocols = ["ft-40"]
seeds = 2
threads = 1
allocation_control = true
checkpoint = "{shared}"
[[adapters]]
name = "taylor"
speedups = [3, 5]
[[adapters]]
name = "slimming"
speedups = [3]
checkpoint = "{own}"
[[adapters]]
name = "global-magnitude"
ratios = [0.9]
""",
        source=tmp_path / "grid.toml",
    )
    by = {(r.adapter, r.target.describe()): r for r in grid.runs}
    assert set(by) == {("taylor", "speedup=3"), ("taylor", "speedup=5"), ("slimming", "speedup=3"),
                       ("global-magnitude", "ratio=0.9")}
    assert by[("slimming", "speedup=3")].spec.checkpoint_sha256 == file_digest(own)
    assert by[("taylor", "speedup=3")].spec.checkpoint_sha256 == file_digest(shared)
    assert by[("taylor", "speedup=3")].spec.allocation_control and by[("taylor", "speedup=3")].arms == 3
    assert not by[("global-magnitude", "ratio=0.9")].spec.allocation_control  # structured only
    assert json.loads(json.dumps(by[("taylor", "speedup=5")].spec.to_dict()))["target"]["speedup"] == 5


def test_a_grid_with_an_unreachable_speedup_is_refused_before_anything_runs(tmp_path):
    from bench.errors import BenchError
    from bench.sweep.grid import parse_grid

    with pytest.raises(BenchError, match="out of reach"):
        parse_grid('[[adapters]]\nname = "l1-norm"\nspeedups = [500]\n', source=tmp_path / "g.toml")


def test_a_spec_names_a_shipped_checkpoint_by_its_repository_path(tmp_path, monkeypatch):
    """Records carry no machine path: a shipped checkpoint is written as submissions/dense/<file>, and
    read back from anywhere it resolves to this installation's copy."""
    from bench.evaluation.spec import RunSpec

    monkeypatch.chdir(tmp_path)  # not the repository root
    copy = shipped.for_run("resnet20", "digits", "l1-norm")
    spec = RunSpec(adapter="l1-norm", threads=1, checkpoint=str(copy.path))
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["checkpoint"] == "submissions/dense/digits-resnet20.pt"
    back = RunSpec.from_dict(data)
    assert back.hash == spec.hash and back.checkpoint == str(copy.path)
