"""Pruning a freshly built reference model, for the tests of bench/pruning/."""

from __future__ import annotations

import torch

from bench.models import build_model
from bench.pruning import Target, get_adapter
from bench.pruning.job import PruneJob
from bench.pruning.structure import PrunedModel

CIFAR = torch.zeros(1, 3, 32, 32)
DIGITS = torch.zeros(1, 1, 16, 16)


def prune_cifar(model_name: str, adapter: str, target: Target, layout: str | None = None) -> tuple[torch.nn.Module, PrunedModel]:
    """A fresh CIFAR-10 `model_name` and its one-shot pruning by `adapter` to `target` (seed 0, no calibration)."""
    model = build_model(model_name, num_classes=10, in_channels=3).eval()
    pruned = PruneJob(model, model_name, get_adapter(adapter)(), target,
                      example_inputs=CIFAR, calibration=[], seed=0, layout=layout).prune()
    return model, pruned
