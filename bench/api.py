"""The Python API the CLI wraps: `specify()` + `evaluate()`, `train_dense()` and `prune_model()`.

    import torch
    from bench import api

    device = api.training_device("auto")
    api.set_threads()
    spec = api.specify(device, adapter="hrankplus", protocol="clr-90")
    record, path = api.evaluate(spec, api.Execution(records_dir="results"))

The pieces live in bench/evaluation/ (orchestration), bench/infra/environment.py and bench/infra/locks.py.
"""

from __future__ import annotations

import torch.nn as nn

from bench.data import DataBundle, DatasetSpec
from bench.errors import BenchError
from bench.evaluation.dense import (
    DEFAULT_RUNS_DIR,
    Dense,
    dense_config,
    recipe_spec,
    train_dense,
)
from bench.evaluation.evaluate import (
    DEFAULT_RECORDS_DIR,
    Execution,
    evaluate,
    random_control_adapter,
    specify,
)
from bench.evaluation.loading import (
    example_inputs,
    load_checkpoint,
    load_data,
    new_model,
)
from bench.evaluation.runs import calibration_batches
from bench.evaluation.spec import DENSE_TRAINING_VERSION, RunSpec
from bench.infra.environment import (
    compile_usable,
    resolve_device,
    set_threads,
    training_device,
)
from bench.pruning import Adapter, Target, get_adapter
from bench.pruning.engine import PrunedModel, Structure, prune

__all__ = [
    "DEFAULT_RECORDS_DIR", "DEFAULT_RUNS_DIR", "DENSE_TRAINING_VERSION", "Dense", "Execution", "RunSpec",
    "compile_usable", "dense_config", "evaluate", "example_inputs", "load_checkpoint", "load_data", "make_adapter",
    "new_model", "prune_model", "random_control_adapter", "recipe_spec", "resolve_device", "set_threads", "specify",
    "train_dense", "training_device",
]


def make_adapter(name: str, hparams: object | None = None) -> Adapter:
    return get_adapter(name)(hparams)


def prune_model(
    dense: nn.Module,
    model_name: str,
    adapter: Adapter,
    target: Target | None,
    spec: DatasetSpec,
    *,
    seed: int,
    data: DataBundle | None = None,
    reference: Structure | None = None,
    layout: str | None = None,
) -> PrunedModel:
    """Prune a copy of `dense` (in `layout`, default the adapter's own). Only adapters that need
    calibration batches need `data`."""
    if adapter.needs_calibration and data is None:
        raise BenchError(f"adapter {adapter.name!r} needs calibration data from the dataset")
    return prune(
        dense,
        model_name,
        adapter,
        target,
        example_inputs=example_inputs(spec, next(dense.parameters()).device),
        calibration=calibration_batches(adapter, data) if data is not None else [],
        seed=seed,
        reference=reference,
        layout=layout,
    )
