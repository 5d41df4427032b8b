"""torch-pruning on the models' shortcuts and grouped convolutions (bench/pruning/shortcut.py): depthwise
convolutions prune, grouped ones are refused in one line (structured pruning; unstructured masks them)."""

import pytest
import torch

from bench.errors import BenchError
from bench.models.cifar_resnet import ChannelShortcut
from bench.pruning import Target, get_adapter
from bench.pruning.job import PruneJob
from bench.pruning.shortcut import ChannelShortcutPruner, _keep_map, check_structured_support

from tests.helpers.matrix import NUM_CLASSES


def _tiny(middle: torch.nn.Module) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), middle, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(middle.out_channels, NUM_CLASSES),
    )


def test_depthwise_convs_prune_but_grouped_ones_are_refused():
    kwargs = dict(example_inputs=torch.zeros(1, 3, 8, 8), calibration=[], seed=0)
    pruned = PruneJob(_tiny(torch.nn.Conv2d(8, 8, 3, groups=8)), "tiny", get_adapter("l1-norm")(), Target(ratio=0.5), **kwargs).prune()
    assert pruned.model(torch.zeros(2, 3, 8, 8)).shape == (2, NUM_CLASSES) and pruned.structure.density < 1
    for grouped in (torch.nn.Conv2d(8, 16, 3, groups=8), torch.nn.Conv2d(8, 8, 3, groups=2)):  # channel multiplier; groups
        with pytest.raises(BenchError, match=r"grouped convolutions \(1: groups="):
            PruneJob(_tiny(grouped), "tiny", get_adapter("l1-norm")(), Target(ratio=0.5), **kwargs).prune()
    masked = PruneJob(_tiny(torch.nn.Conv2d(8, 8, 3, groups=2)), "tiny", get_adapter("global-magnitude")(), Target(ratio=0.5), **kwargs).prune()
    assert masked.structure.density < 1  # unstructured pruning masks grouped convs as any other


def test_grouped_convolutions_are_refused_before_anything_is_traced():
    ok = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3, groups=8))  # depthwise: fine
    check_structured_support(ok)
    with pytest.raises(BenchError) as info:
        check_structured_support(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 16, 3, groups=8)))
    assert str(info.value) == ("structured pruning does not support grouped convolutions (1: groups=8, 8->16 channels); "
                               "use an unstructured adapter (e.g. global-magnitude) for this model")


def test_pruning_a_channel_shortcut_drops_the_routes_of_removed_channels_and_renumbers_the_rest():
    shortcut = ChannelShortcut(4, 4, 1)  # identity: route i -> i
    pruner = ChannelShortcutPruner()
    pruner.prune_in_channels(shortcut, [1])
    pruner.prune_out_channels(shortcut, [2])
    assert (shortcut.in_channels, shortcut.out_channels) == (3, 3)
    assert shortcut.src.tolist() == [0, 2] and shortcut.dst.tolist() == [0, 2]  # routes 0->0 and 3->3 survive
    x = torch.arange(3.0).view(1, 3, 1, 1)
    assert shortcut(x).flatten().tolist() == [0.0, 0.0, 2.0]
    assert _keep_map(5, [1, 3]).tolist() == [0, -1, 1, -1, 2]
