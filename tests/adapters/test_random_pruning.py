"""Random pruning (adapters/random_pruning.py), the control every method is compared with: i.i.d. uniform
scores from the run's seeded generator, of channels or of weights."""

import pytest
import torch

from bench.adapters.random_pruning import RandomPruning
from bench.errors import BenchError

from tests.adapters.scoring import context


def _scores(kind: str, seed: int, model) -> dict[str, torch.Tensor]:
    layers = {"conv1": model.conv1, "layer3.2.conv2": model.layer3[2].conv2}
    ctx = context(model, layers, example=torch.zeros(1, 1, 16, 16))
    ctx.generator = torch.Generator().manual_seed(seed)
    return RandomPruning(RandomPruning.Hparams(kind=kind)).score(ctx)


def test_scores_are_seeded_uniform_draws_per_channel_or_per_weight(resnet20):
    structured = _scores("structured", 3, resnet20)
    assert structured["conv1"].shape == (16,) and structured["layer3.2.conv2"].shape == (64,)
    unstructured = _scores("unstructured", 3, resnet20)
    assert unstructured["conv1"].shape == resnet20.conv1.weight.shape
    assert all(((s >= 0) & (s < 1)).all() for s in (*structured.values(), *unstructured.values()))
    again, other = _scores("structured", 3, resnet20), _scores("structured", 4, resnet20)
    assert all(torch.equal(structured[n], again[n]) for n in structured)
    assert not torch.equal(structured["layer3.2.conv2"], other["layer3.2.conv2"])


def test_its_kind_is_a_hyperparameter():
    assert RandomPruning().kind == "structured"
    assert RandomPruning(RandomPruning.Hparams(kind="unstructured")).kind == "unstructured"
    with pytest.raises(BenchError, match="kind must be 'structured' or 'unstructured'"):
        RandomPruning(RandomPruning.Hparams(kind="channels"))
