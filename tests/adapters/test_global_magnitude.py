"""Global magnitude pruning (adapters/global_magnitude.py, Han et al. 2015): every weight ranked by |w|
across all layers, the smallest `ratio` of them masked."""

import torch

from bench.adapters.global_magnitude import GlobalMagnitude
from bench.pruning import Target
from bench.pruning.job import PruneJob

from tests.adapters.scoring import assert_untouched, context, snapshot

X = torch.zeros(1, 1, 16, 16)


def test_scores_are_the_weights_magnitudes(resnet20):
    layers = {"conv1": resnet20.conv1, "layer2.0.conv1": resnet20.layer2[0].conv1}
    before = snapshot(resnet20)
    scores = GlobalMagnitude().score(context(resnet20, layers, example=X))
    assert all(torch.equal(scores[n], m.weight.abs()) for n, m in layers.items())
    assert_untouched(resnet20, before)


def test_one_threshold_over_all_layers_keeps_the_largest_weights_anywhere(resnet20):
    adapter = GlobalMagnitude()
    assert (adapter.kind, adapter.allocation) == ("unstructured", "global")
    pruned = PruneJob(resnet20, "resnet20", adapter, Target(ratio=0.6), example_inputs=X, calibration=[], seed=0).prune()
    kept, removed = [], []
    for name, mask in pruned.masks.items():
        weight = resnet20.get_submodule(name).weight.detach().abs()
        kept.append(weight[mask])
        removed.append(weight[~mask])
    kept, removed = torch.cat(kept), torch.cat(removed)
    assert removed.max() <= kept.min()  # not per layer: the smallest kept weight anywhere beats every removed one
    assert abs(removed.numel() / (kept.numel() + removed.numel()) - 0.6) < 1e-3
    rates = [float((~m).float().mean()) for m in pruned.masks.values()]
    assert max(rates) - min(rates) > 0.1  # so the layers end at different rates
