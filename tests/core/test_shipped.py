"""The dense checkpoints shipped in submissions/dense/ (bench/core/shipped.py): intact, loadable, and the ones
runs are pointed at."""

from __future__ import annotations

import pytest
import torch

from bench import api
from bench.core import shipped
from bench.core.checkpoint import weights_digest
from bench.core.config import file_digest
from bench.data import DATASETS


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
