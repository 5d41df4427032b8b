"""What `bench validate` checks beyond the schema and the record's own arithmetic (bench.core.records):
the fields that need the model itself. Where the record's model and dataset are known here, its
counts are recomputed from the stored structure (the dense model, and each arm pruned to its
per-unit kept counts, exactly as a random control is matched to a method), and its run id from the
run specification it carries. The leaderboard, which never imports torch, relies on the rest.
"""

from __future__ import annotations

import copy
import functools
import json

import torch

from bench.core.counting import count
from bench.data import DATASETS
from bench.errors import BenchError
from bench.evaluation import spec_fields
from bench.evaluation.spec import RunSpec
from bench.models import build_model
from bench.pruning.controls import random_adapter
from bench.pruning.job import PruneJob
from bench.pruning.structure import Structure


def problems(record: dict) -> list[str]:
    """`field: message` for each field the model or the spec do not reproduce; [] when all agree (or
    when the model or dataset is not known here: those records are checked by the rest only)."""
    found = []
    spec = None
    if "spec" in record:
        try:
            spec = spec_fields.record_spec(record)
        except BenchError as exc:
            return [str(exc)]
        if spec.hash != record["run_id"]:
            found.append("run_id: not the hash of the record's own spec")
    model_name, dataset_name = record["model"], record["dataset"]["name"]
    try:
        params, flops = _counts(model_name, dataset_name, None)
    except BenchError:  # a model or dataset not known here
        return found
    if spec is not None:
        found += spec_fields.problems(record, spec, _layout(spec) if spec.prunes_in_a_layout else None)
    recorded = record["dense"]
    found += [f"dense/{k}: not what the model has ({v})" for k, v in (("params", params), ("flops", flops)) if recorded[k] != v]
    for arm_name in ("method", "random_control"):
        arm = record[arm_name]
        if arm is None:
            continue
        params, flops = _counts(model_name, dataset_name, json.dumps(arm["structure"], sort_keys=True))
        found += [
            f"{arm_name}/{k}: not what its stored structure gives ({v})"
            for k, v in (("params", params), ("flops", flops)) if arm[k] != v
        ]
    return found


def _layout(spec: RunSpec) -> dict:
    """The layout the spec's adapter prunes its model with, as a record states it (the model is known
    here: its counts were recomputed first)."""
    model = _model(spec.model, spec.dataset)
    x = torch.zeros(1, *DATASETS.get(spec.dataset).input_shape)
    job = PruneJob(model, spec.model, spec.make_adapter(), spec.target, example_inputs=x, layout=spec.layout)
    return job.resolve_layout().to_dict()


@functools.lru_cache(maxsize=512)
def _counts(model_name: str, dataset_name: str, structure: str | None) -> tuple[int, int]:
    """(params, FLOPs) of the model, or of it pruned to a stored structure (canonical JSON): counts do
    not depend on the weights, so each structure is counted once per process (the records of one
    method and level under several protocols share theirs)."""
    data = DATASETS.get(dataset_name)
    dense = copy.deepcopy(_model(model_name, dataset_name))  # pruned below: the cached one stays whole
    x = torch.zeros(1, *data.input_shape)
    if structure is None:
        counted = count(dense, x)
        return counted.params, counted.flops
    reference = Structure.from_dict(json.loads(structure))
    pruned = PruneJob(dense, model_name, random_adapter(reference.kind), None, example_inputs=x).prune(reference=reference)
    counted = count(pruned.model, x, pruned.masks)
    return counted.params, counted.flops


@functools.lru_cache(maxsize=16)
def _model(model_name: str, dataset_name: str) -> torch.nn.Module:
    """The dense model at a fixed init (its widths are what the checks need); never modified."""
    data = DATASETS.get(dataset_name)
    torch.manual_seed(0)  # a fixed init keeps this quiet and repeatable
    return build_model(model_name, num_classes=data.num_classes, in_channels=data.in_channels).eval()
