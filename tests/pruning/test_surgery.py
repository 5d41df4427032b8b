"""Removing channels in place (bench/pruning/surgery.py): rescaling filters to the dense norms keeps the
function exactly."""

import torch

from bench.pruning import Target, get_adapter
from bench.pruning.job import PruneJob
from bench.pruning.surgery import rescale_filters

from tests.helpers.trained_like import trained_like


X = torch.zeros(1, 1, 16, 16)


def test_rescaling_filters_to_the_dense_norms_keeps_the_function_exactly():
    dense = trained_like("resnet20")
    pruned = PruneJob(dense, "resnet20", get_adapter("sfp")(), Target(ratio=0.5),
                      example_inputs=X, calibration=[], seed=0).prune().model
    with torch.no_grad():  # as after soft pruning: regrown filters far above the dense norms, and one zero filter
        pruned.conv1.weight.mul_(torch.linspace(0.05, 30, pruned.conv1.out_channels).view(-1, 1, 1, 1))
        pruned.layer2[0].conv1.weight[3] = 0
    x = torch.randn(6, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    before = pruned.eval()(x)
    rescale_filters(pruned, dense, X, "full-width")
    assert torch.allclose(pruned(x), before, atol=1e-4)
    for name in ("conv1", "layer1.0.conv2", "layer3.2.conv1"):
        norms = pruned.get_submodule(name).weight.flatten(1).norm(dim=1)
        target = dense.get_submodule(name).weight.flatten(1).norm(dim=1).mean()
        assert torch.allclose(norms, target.expand_as(norms), rtol=1e-5), name
    assert pruned.layer2[0].conv1.weight[3].abs().sum() == 0
    assert (pruned.layer2[0].conv1.weight.flatten(1).norm(dim=1) > 0).sum() == pruned.layer2[0].conv1.out_channels - 1
