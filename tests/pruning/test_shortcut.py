"""torch-pruning on the models' shortcuts and grouped convolutions (bench/pruning/shortcut.py): depthwise
convolutions prune, grouped ones are refused in one line (structured pruning; unstructured masks them)."""

import pytest
import torch

from bench.errors import BenchError
from bench.pruning import Target, get_adapter
from bench.pruning.engine import prune

from tests.helpers.matrix import NUM_CLASSES


def _tiny(middle: torch.nn.Module) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), middle, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(middle.out_channels, NUM_CLASSES),
    )


def test_depthwise_convs_prune_but_grouped_ones_are_refused():
    kwargs = dict(example_inputs=torch.zeros(1, 3, 8, 8), calibration=[], seed=0)
    pruned = prune(_tiny(torch.nn.Conv2d(8, 8, 3, groups=8)), "tiny", get_adapter("l1-norm")(), Target(ratio=0.5), **kwargs)
    assert pruned.model(torch.zeros(2, 3, 8, 8)).shape == (2, NUM_CLASSES) and pruned.structure.density < 1
    for grouped in (torch.nn.Conv2d(8, 16, 3, groups=8), torch.nn.Conv2d(8, 8, 3, groups=2)):  # channel multiplier; groups
        with pytest.raises(BenchError, match=r"grouped convolutions \(1: groups="):
            prune(_tiny(grouped), "tiny", get_adapter("l1-norm")(), Target(ratio=0.5), **kwargs)
    masked = prune(_tiny(torch.nn.Conv2d(8, 8, 3, groups=2)), "tiny", get_adapter("global-magnitude")(), Target(ratio=0.5), **kwargs)
    assert masked.structure.density < 1  # unstructured pruning masks grouped convs as any other
