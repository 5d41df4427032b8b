"""What pruning produced (bench/pruning/structure.py): a `Structure` (kept and total per unit, and its layout),
its JSON form and density, and a `PrunedModel` whose fixed masks stay applied through retraining."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

from bench.pruning.structure import PrunedModel, Structure


def test_a_structure_round_trips_through_json_with_its_layout():
    structure = Structure("structured", {"layer1.0.conv1": (8, 16), "conv1": (16, 16)}, "block-internal")
    data = json.loads(json.dumps(structure.to_dict()))
    assert data == {"kind": "structured", "layout": "block-internal",
                    "units": {"layer1.0.conv1": {"kept": 8, "total": 16}, "conv1": {"kept": 16, "total": 16}}}
    assert Structure.from_dict(data) == structure
    assert Structure.from_dict(data) != Structure("structured", structure.units, "hrankplus")  # a control matches the layout too


def test_a_structure_without_a_layout_round_trips():
    structure = Structure("unstructured", {"conv1": (3, 9)})
    assert Structure.from_dict(structure.to_dict()) == structure


def test_density_is_the_kept_share_of_all_units():
    assert Structure("structured", {"a": (8, 16), "b": (16, 16)}).density == pytest.approx(24 / 32)
    assert Structure("unstructured", {"w": (0, 10)}).density == 0.0
    assert Structure("structured", {}).density == 1.0  # nothing prunable: nothing removed


def masked_linear() -> PrunedModel:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    mask = torch.tensor([[True, False, True, False]] * 3)
    return PrunedModel(model, Structure("unstructured", {"0": (6, 12)}), masks={"0": mask})


def test_apply_masks_zeroes_the_pruned_weights_of_the_model_or_of_another():
    pruned = masked_linear()
    kept = pruned.model[0].weight[:, [0, 2]].clone()
    pruned.apply_masks()
    assert (pruned.model[0].weight[:, [1, 3]] == 0).all() and torch.equal(pruned.model[0].weight[:, [0, 2]], kept)
    other = nn.Sequential(nn.Linear(4, 3))
    nn.init.ones_(other[0].weight)
    pruned.apply_masks(other)  # e.g. the copy being retrained
    assert other[0].weight.tolist() == [[1.0, 0.0, 1.0, 0.0]] * 3


def test_retraining_keeps_the_masks_applied_after_every_step():
    pruned = masked_linear()
    pruned.apply_masks()
    (hook,) = pruned.hooks()
    optimizer = torch.optim.SGD(pruned.model.parameters(), lr=0.5)
    for _ in range(2):
        optimizer.zero_grad()
        pruned.model(torch.randn(5, 4)).pow(2).sum().backward()
        optimizer.step()
        assert (pruned.model[0].weight[:, [1, 3]] != 0).any()  # the step moved the pruned weights
        hook.after_step(pruned.model)
        assert (pruned.model[0].weight[:, [1, 3]] == 0).all()  # and the hook removed them again
    structured = PrunedModel(nn.Sequential(nn.Linear(4, 3)), Structure("structured", {"0": (3, 3)}, "x"))
    assert structured.hooks() == []  # removed channels need no hook
