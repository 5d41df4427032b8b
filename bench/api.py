"""The Python API the CLI wraps: `specify()` + `evaluate()`, `train_dense()` and pruning (`prune_job()`,
`prune_to()`, `prune_model()`, `prune_report()`: a `PruneJob` built from a dataset).

    import torch
    from bench import api

    device = api.training_device("auto")
    api.set_threads()
    spec = api.specify(device, adapter="hrankplus", protocol="clr-90")
    record, path = api.evaluate(spec, api.Execution(records_dir="results"))

The pieces live in bench/evaluation/ (orchestration), bench/infra/environment.py and bench/infra/locks.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch
import torch.nn as nn

from bench.core import shipped
from bench.core.config import file_digest
from bench.core.counting import count
from bench.infra.files import write_atomic
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
    specify,
)
from bench.evaluation.loading import (
    example_inputs,
    load_checkpoint,
    load_data,
    new_model,
)
from bench.evaluation.runs import CALIBRATION_SEED, calibration_batches
from bench.evaluation.spec import DENSE_TRAINING_VERSION, RunSpec
from bench.infra.environment import (
    compile_usable,
    resolve_device,
    set_threads,
    training_device,
)
from bench.pruning import Adapter, Target, get_adapter
from bench.pruning.controls import random_control_adapter
from bench.pruning.cost import CostMatch
from bench.pruning.job import PruneJob
from bench.pruning.structure import PrunedModel, Structure
from bench.pruning.surgery import identity_routes

__all__ = [
    "DEFAULT_RECORDS_DIR", "DEFAULT_RUNS_DIR", "DENSE_TRAINING_VERSION", "Dense", "Execution", "PruneJob", "RunSpec",
    "compile_usable", "dense_config", "evaluate", "example_inputs", "export_weights", "file_digest", "load_checkpoint", "load_data", "make_adapter",
    "new_model", "prune_job", "prune_model", "prune_report", "prune_to", "random_control_adapter", "recipe_spec", "resolve_device", "set_threads", "specify",
    "train_dense", "training_device", "unshared_baseline_warning",
]


def export_weights(model: nn.Module, path: str | Path) -> None:
    """The model's weights as a plain CPU state dict for `--checkpoint`, written atomically, refusing
    to replace a file already there (shipped checkpoints are identified by their bytes)."""
    path = Path(path)
    if path.exists():
        raise BenchError(f"{path} already exists; remove it first or export elsewhere")
    if not path.parent.is_dir():
        raise BenchError(f"folder {path.parent} does not exist")
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, buffer)
    write_atomic(path, buffer.getvalue())


def unshared_baseline_warning(record: dict, path: str | Path) -> str | None:
    """A warning when no other record beside `path` (same dataset and model folder) starts from the
    record's dense weights and they are not a shipped checkpoint (bench/core/shipped.py)."""
    weights = record["dense"].get("weights_sha256")
    if weights is None or shipped.is_shipped(weights):
        return None
    folder = Path(path).parent
    others = 0
    for other in folder.glob("*.json"):
        if other.resolve() == Path(path).resolve():
            continue
        try:
            others += json.loads(other.read_text(encoding="utf-8"))["dense"]["weights_sha256"] == weights
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a record: `bench validate` is what judges it
    if others:
        return None
    return shipped.unshared_warning(weights, record["model"], record["dataset"]["name"], record["adapter"]["name"],
                                    Path(path).name)


def make_adapter(name: str, hparams: object | None = None) -> Adapter:
    return get_adapter(name)(hparams)


def prune_job(
    dense: nn.Module,
    model_name: str,
    adapter: Adapter,
    target: Target | None,
    spec: DatasetSpec,
    *,
    seed: int,
    data: DataBundle | None = None,
    layout: str | None = None,
) -> PruneJob:
    """The pruning of `dense` on a dataset: example inputs of its shape, and the calibration batches an
    evaluation scores on (`data` is needed only by adapters that need calibration)."""
    if adapter.needs_calibration and data is None:
        raise BenchError(f"adapter {adapter.name!r} needs calibration data from the dataset")
    calibration = calibration_batches(adapter, data) if data is not None else []
    return PruneJob(dense, model_name, adapter, target, example_inputs=example_inputs(spec, next(dense.parameters()).device),
                    calibration=calibration, seed=seed, layout=layout)


def prune_to(
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
) -> tuple[PrunedModel, CostMatch | None]:
    """Prune a copy of `dense` to `target` (in `layout`, default the adapter's own; with `reference`, to
    that structure: a random control). A `--speedup` is searched first (bench/pruning/cost.py), on the
    scores an evaluation searches with, and its match returned beside the pruned model."""
    return _checked_and_pruned(prune_job(dense, model_name, adapter, target, spec, seed=seed, data=data, layout=layout), reference)


def _checked_and_pruned(job: PruneJob, reference: Structure | None = None) -> tuple[PrunedModel, CostMatch | None]:
    match = None
    if job.target is not None:
        job.check_target()
        job, match = job.resolved(search_seed=CALIBRATION_SEED)  # the scores an evaluation's search draws
    return job.prune(reference=reference), match


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
    """`prune_to` without the cost search's match."""
    return prune_to(dense, model_name, adapter, target, spec, seed=seed, data=data, reference=reference, layout=layout)[0]


def prune_report(
    dense: nn.Module,
    model_name: str,
    adapter: Adapter,
    target: Target,
    spec: DatasetSpec,
    *,
    seed: int,
    data: DataBundle | None = None,
    layout: str | None = None,
) -> tuple[dict, CostMatch | None]:
    """`bench prune`: `dense` pruned to `target`, described (counts before and after, the structure, the
    layout, the identity routes kept, a cost target's match); and the match, whose note says how near
    it came."""
    job = prune_job(dense, model_name, adapter, target, spec, seed=seed, data=data, layout=layout)
    pruned, match = _checked_and_pruned(job)
    report = {
        "adapter": adapter.name,
        "model": model_name,
        "dataset": spec.name,
        "target": target.describe(),
        "dense": count(dense, job.example_inputs).to_dict(),
        "pruned": count(pruned.model, job.example_inputs, pruned.masks).to_dict(),
        "structure": pruned.structure.to_dict(),
        "layout": job.resolve_layout().to_dict() if adapter.kind == "structured" else None,
        "identity_routes": identity_routes(pruned.model),
        **({"match": match.to_dict()} if match is not None else {}),
    }
    return report, match
