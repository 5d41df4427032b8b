"""Pruning: the adapter interface and registry, targets, and the core that applies scores.

Adapters import from here only: `from bench.pruning import ADAPTERS, Adapter, PruningContext, ...`.
"""

from bench.pruning.interface import (
    Adapter,
    FeatureMap,
    NamedConfig,
    NoHparams,
    PruningContext,
    Scores,
    SoftPruner,
    SoftPruning,
    TrainingHook,
    parse_hparams,
)
from bench.pruning.registry import ADAPTERS, get_adapter
from bench.pruning.targets import Target, parse_compress_rate

__all__ = [
    "ADAPTERS",
    "Adapter",
    "FeatureMap",
    "NamedConfig",
    "NoHparams",
    "PruningContext",
    "Scores",
    "SoftPruner",
    "SoftPruning",
    "Target",
    "TrainingHook",
    "get_adapter",
    "parse_compress_rate",
    "parse_hparams",
]
