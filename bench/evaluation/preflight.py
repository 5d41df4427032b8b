"""The checks a run passes before anything trains, in one place for `bench evaluate` and `bench sweep`.

A run's protocol must resolve against its dataset (and keep the weights, for iterative pruning), its
model must build for its dataset, its dense checkpoint must load into that model, its target and
layout must fit the model (a cost target within the layout's reach), and a pruner that acts while it
trains needs a layout it can zero. `bench evaluate` checks its one spec; `bench sweep` checks every
spec of a grid before its first run starts, so a typo is never found three hours in. The models are
built once per (model, dataset) on the CPU and every check is done once per what it depends on.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bench.errors import BenchError
from bench.evaluation.loading import example_inputs, load_checkpoint, new_model
from bench.data import DATASETS
from bench.evaluation.runs import check_iterations
from bench.evaluation.spec import RunSpec
from bench.pruning.job import PruneJob

_CPU = torch.device("cpu")


class Preflight:
    def __init__(self) -> None:
        self._models: dict[tuple[str, str], torch.nn.Module] = {}
        self._done: set[tuple] = set()

    def check(self, spec: RunSpec) -> None:
        """Every check of one run; a BenchError says which failed."""
        spec.resolved_protocol  # noqa: B018 (resolving raises on a protocol the recipe cannot hold)
        adapter = spec.make_adapter()
        check_iterations(adapter, spec.resolved_protocol, spec.iterations)
        self.model(spec.model, spec.dataset)
        if spec.checkpoint is not None:
            self.checkpoint(spec.model, spec.dataset, Path(spec.checkpoint))
        self.target(spec)

    def model(self, name: str, dataset: str) -> torch.nn.Module:
        """The dense model, at random init on the CPU (its widths are what the checks need)."""
        key = (name, dataset)
        if key not in self._models:
            self._models[key] = new_model(name, DATASETS.get(dataset), _CPU)
        return self._models[key]

    def checkpoint(self, model: str, dataset: str, path: Path) -> None:
        key = ("checkpoint", model, dataset, path)
        if key in self._done:
            return
        try:
            load_checkpoint(self.model(model, dataset), path)
        except BenchError as exc:
            raise BenchError(f"{model} on {dataset}: {exc}") from None
        self._done.add(key)

    def target(self, spec: RunSpec) -> None:
        """The target and layout fit the model; the layout of a pruner that trains can be zeroed. Checked
        once per (adapter, hyperparameters, target, model, dataset, layout)."""
        key = ("target", spec.adapter, spec.hparams, spec.target, spec.model, spec.dataset, spec.layout)
        if key in self._done:
            return
        job = PruneJob(self.model(spec.model, spec.dataset), spec.model, spec.make_adapter(), spec.target,
                       example_inputs=example_inputs(DATASETS.get(spec.dataset), _CPU), layout=spec.layout)
        try:
            job.preflight()  # the target and layout, a speed-up's reach, soft pruning's full width
        except BenchError as exc:
            raise BenchError(f"{spec.target.describe()} on {spec.model}: {exc}") from None
        self._done.add(key)
