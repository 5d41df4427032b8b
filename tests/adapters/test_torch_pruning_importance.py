"""The `tp` adapter (adapters/torch_pruning_importance.py): any Torch-Pruning importance, scored on the
core's dependency graph."""

from __future__ import annotations

import json

import pytest
import torch
import torch_pruning as tp

from bench.adapters import torch_pruning_importance as module
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.apply import score_units
from bench.pruning.job import PruneJob
from bench.pruning.layouts import resolve_layout
from bench.pruning.units import Units
from bench.ui.cli import main

from tests.helpers.matrix import CALIBRATION as MATRIX_CALIBRATION, FAMILIES, check_pair


TP = get_adapter("tp")
X = torch.zeros(1, 3, 32, 32)
_gen = torch.Generator().manual_seed(0)
CALIBRATION = [(torch.randn(8, 3, 32, 32, generator=_gen), torch.randint(10, (8,), generator=_gen))]


@pytest.mark.slow
def test_every_supported_importance_prunes_a_resnet_and_leaves_no_gradients():
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10, in_channels=3)
    names = module.importance_names()
    assert {"GroupMagnitudeImportance", "GroupTaylorImportance", "LAMPImportance", "FPGMImportance"} <= set(names)
    for name in names:
        pruned = PruneJob(model, "resnet20", TP(TP.Hparams(importance=name)), Target(ratio=0.5),
                          example_inputs=X, calibration=CALIBRATION, seed=0).prune()
        assert pruned.structure.density < 1 and pruned.model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert all(p.grad is None for p in model.parameters()), name  # the dense model is left as given


def test_scores_are_torch_prunings_own_on_a_plain_network():
    """On VGG (no custom shortcut) the core's graph gives the group Torch-Pruning's own graph gives."""
    torch.manual_seed(0)
    model = build_model("vgg16", num_classes=10, in_channels=3).eval()
    adapter = TP()
    units = Units(model, True, X, resolve_layout(model, "vgg16", adapter.layout, None))
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


@pytest.mark.slow
def test_one_flag_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["prune", "--adapter", "tp", "--hp", "importance=GroupTaylorImportance", "--speedup", "3", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["layout"]["name"] == "stage-coupled" and report["match"]["exact"]


def _with_importance(name: str) -> type:
    """The tp adapter with another importance as its default (conformance instantiates classes)."""

    class Variant(TP):
        def __init__(self, hparams=None):
            super().__init__(hparams or TP.Hparams(importance=name))

    Variant.__name__ = f"tp[{name}]"
    return Variant


@pytest.mark.slow
@pytest.mark.parametrize("importance", module.importance_names())
def test_each_importance_passes_conformance_and_the_model_matrix(importance, dense_models):
    """What the README lists: every supported importance, the conformance checks and every model family
    (pruned and run, or refused in one line where the README says so)."""
    from bench.pruning import conformance

    variant = _with_importance(importance)
    conformance.check_adapter(variant, report=None)
    for family in FAMILIES:
        adapter = variant()
        if importance == "BNScaleImportance" and family.startswith("timm:") and family != "timm:regnetx_002":
            with pytest.raises(BenchError, match="finds nothing to score"):  # groups without a BatchNorm
                PruneJob(dense_models(family), family, adapter, Target(ratio=0.5),
                         example_inputs=torch.zeros(1, 3, 32, 32), calibration=MATRIX_CALIBRATION, seed=0).prune()
            continue
        check_pair(family, adapter, dense_models(family))
