"""The `tp` adapter: any Torch-Pruning importance, scored on the core's dependency graph."""

from __future__ import annotations

import importlib
import json

import pytest
import torch
import torch_pruning as tp

from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.engine import prune
from bench.pruning.units import Units
from bench.pruning.layouts import resolve_layout
from bench.ui.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")
module = importlib.import_module("bench.adapters.torch_pruning_importance")
TP = get_adapter("tp")
X = torch.zeros(1, 3, 32, 32)
_gen = torch.Generator().manual_seed(0)
CALIBRATION = [(torch.randn(8, 3, 32, 32, generator=_gen), torch.randint(10, (8,), generator=_gen))]


def test_every_supported_importance_prunes_a_resnet_and_leaves_no_gradients():
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10, in_channels=3)
    names = module.importance_names()
    assert {"GroupMagnitudeImportance", "GroupTaylorImportance", "LAMPImportance", "FPGMImportance"} <= set(names)
    for name in names:
        pruned = prune(model, "resnet20", TP(TP.Hparams(importance=name)), Target(ratio=0.5), example_inputs=X,
                       calibration=CALIBRATION, seed=0)
        assert pruned.structure.density < 1 and pruned.model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert all(p.grad is None for p in model.parameters()), name  # the dense model is left as given


def test_scores_are_torch_prunings_own_on_a_plain_network():
    """On VGG (no custom shortcut) the core's graph gives the group Torch-Pruning's own graph gives."""
    torch.manual_seed(0)
    model = build_model("vgg16", num_classes=10, in_channels=3).eval()
    adapter = TP()
    units = Units(model, True, X, resolve_layout(model, "vgg16", adapter.layout, None))
    from bench.pruning.engine import score_units

    ours = score_units(model, adapter, units, example_inputs=X, calibration=[], seed=0)
    plain = tp.DependencyGraph().build_dependency(model, example_inputs=X)
    importance = tp.importance.GroupMagnitudeImportance()
    for name in ("features.0", "features.10"):
        conv = model.get_submodule(name)
        theirs = importance(plain.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=list(range(conv.out_channels))))
        assert torch.allclose(ours[name].float(), theirs.float().cpu(), rtol=1e-5)


@pytest.mark.parametrize("name, message", [
    ("GroupMagnitude", "did you mean 'GroupMagnitudeImportance'"),
    ("RandomImportance", "not a torch_pruning.importance class this adapter supports"),
    ("ActivationImportance", "not a torch_pruning.importance class this adapter supports"),
])
def test_an_importance_it_cannot_use_is_a_one_line_error(name, message):
    with pytest.raises(BenchError, match=message):
        TP(TP.Hparams(importance=name))


def test_gradient_based_importances_ask_for_calibration_data():
    assert TP(TP.Hparams(importance="GroupTaylorImportance")).needs_calibration
    assert not TP().needs_calibration and not TP().needs_gradients


def test_one_flag_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["prune", "--adapter", "tp", "--hp", "importance=GroupTaylorImportance", "--speedup", "3", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["layout"]["name"] == "stage-coupled" and report["match"]["exact"]
