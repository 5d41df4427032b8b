"""The Python API (bench/api.py) beyond what it re-exports: the warning for dense weights no other record
shares, and exporting a trained baseline's weights for `--checkpoint`, never over an existing file."""

from __future__ import annotations

import pytest

from bench import api
from bench.core import shipped
from bench.core.config import file_digest
from bench.models import build_model
from bench.ui.cli import main


def _evaluate(tmp_path, checkpoint, out):
    return main(["evaluate", "--adapter", "l1-norm", "--ratio", "0.5", "--protocol", "ft-1", "--seeds", "1",
                 "--no-random-control", "--checkpoint", str(checkpoint), "--out", str(out),
                 "--runs-dir", str(tmp_path / "runs"), "--threads", "1"])


@pytest.mark.slow
def test_evaluate_warns_when_its_dense_baseline_is_shared_with_no_record(tmp_path, capsys, dense_weights):
    assert _evaluate(tmp_path, dense_weights, tmp_path / "alone") == 0
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
