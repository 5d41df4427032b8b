"""Calling an adapter's `score` directly, as the engine would (a PruningContext), and checking that scoring
left the model exactly as it was (weights, gradients, hooks, mode)."""

import torch

from bench.pruning import FeatureMap, PruningContext
from bench.pruning.units import batchnorms_after


def context(model, layers, calibration=(), example=None):
    example = example if example is not None else calibration[0][0][:1]
    return PruningContext(
        model=model,
        example_inputs=example,
        layers=layers,
        calibration=list(calibration),
        feature_maps={n: FeatureMap(n) for n in layers},
        generator=torch.Generator().manual_seed(0),
        seed=0,
        norms={n: bn for n, bn in batchnorms_after(model, example).items() if n in layers},  # as the engine gives
    )


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_untouched(model, before, training=False):
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules())
    assert model.training is training
