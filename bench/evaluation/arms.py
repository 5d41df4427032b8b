"""An arm: one pruned network (the method, or its random control) retrained once per seed, and the
statistics its record entry states."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import torch

from bench.core.counting import Counts, count
from bench.core.latency import Latency
from bench.core.latency import measure as measure_latency
from bench.core.latency import speedup as latency_speedup
from bench.errors import BenchError
from bench.evaluation.runs import RunOutcome
from bench.infra import distributed
from bench.pruning import Adapter
from bench.pruning.structure import Structure
from bench.pruning.surgery import identity_routes


@dataclass
class Arm:
    adapter: Adapter
    role: str  # "method" | "control" | "allocation" (the allocation control)
    runs: list[dict] = field(default_factory=list)
    structure: Structure | None = None
    counts: Counts | None = None
    latency: Latency | None = None
    identity_routes: float | None = None

    def add(self, outcome: RunOutcome, seed: int, inputs: torch.Tensor, input_shape: tuple[int, ...], iterations: int) -> None:
        """Take one seed's run. The arm's structure, counts and latency are its first seed's: one-shot
        pruning gives every seed the same structure; iterative steps may differ per seed (each run
        keeps its own steps' counts)."""
        final = outcome.final
        if self.counts is None:
            if self.structure is not None and final.structure != self.structure:
                raise BenchError(f"{self.adapter.name}'s {self.role} was not pruned to the structure it was matched to")
            self.structure = final.structure
            self.counts = count(final.model, inputs, final.masks)
            self.identity_routes = identity_routes(final.model) if final.structure.kind == "structured" else None
            self.latency = measure_latency(final.model, input_shape, inputs.device) if distributed.is_main() else None
        elif final.structure != self.structure and iterations == 1:
            raise BenchError(f"{self.adapter.name} produced a different structure for seed {seed}; per-seed structures are not supported")
        self.runs.append(outcome.record)

    def summary(self, dense: Counts, dense_latency: Latency | None = None) -> dict:
        top1 = [r["top1"] for r in self.runs if r["top1"] is not None]
        diverged = any(r["diverged"] for r in self.runs)
        return {
            "adapter": self.adapter.name,
            "params": self.counts.params,
            "flops": self.counts.flops,
            "params_reduction_pct": reduction(dense.params, self.counts.params),
            "flops_reduction_pct": reduction(dense.flops, self.counts.flops),
            "structure": self.structure.to_dict(),
            **({"identity_routes": round(self.identity_routes, 6)} if self.identity_routes is not None else {}),
            "runs": self.runs,
            "top1_mean": None if diverged else statistics.fmean(top1),
            "top1_std": None if diverged else (statistics.stdev(top1) if len(top1) > 1 else 0.0),
            "top5_mean": None if diverged else statistics.fmean(r["top5"] for r in self.runs),
            "diverged": diverged,
            **({"latency": self._latency(dense, dense_latency)} if self.latency is not None else {}),
        }

    def _latency(self, dense: Counts, dense_latency: Latency | None) -> dict:
        out = self.latency.to_dict()
        if dense_latency is not None:
            out["speedup"] = latency_speedup(dense_latency, self.latency, dense.flops, self.counts.flops)
        return out


def reduction(dense: int, pruned: int) -> float:
    return round(100.0 * (1 - pruned / dense), 4) if dense else 0.0
