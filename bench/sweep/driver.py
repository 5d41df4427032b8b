"""`bench sweep`: load and validate the grid, find what is already done, run the rest, summarize.

Output layout (what `bench leaderboard --submissions OUT` reads):

    OUT/<dataset>/<model>/<adapter>_<target>_<protocol>_<run hash>.json   one record per run
    OUT/.sweep/plan.json            every run of the grid: hash, label, record path, configuration
    OUT/.sweep/logs/<hash>.log      each run's log (failures name it)
    OUT/.sweep/{jobs,locks,progress,submitit}/   worker state (hidden: the leaderboard skips it)

`bench evaluate --out OUT` writes its record at the same path as the sweep run with the same
specification (same hash), so each finds the other's record and does not run it again.

A run is done when its record is present and valid, and nothing else marks it: a crash, a kill or a
Ctrl-C at any moment leaves either no record or a complete one, so rerunning the same command
skips what finished and resumes the rest from their checkpoints under --runs-dir.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.core.config import to_jsonable
from bench.errors import BenchError
from bench.infra import files
from bench.infra.interrupt import StopFlag, stop_on_signals
from bench.sweep.grid import Grid, Run, load_grid
from bench.sweep.job import Job, finished
from bench.sweep.monitor import Monitor

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130
STATE = ".sweep"


@dataclass(frozen=True)
class Resources:
    """How many runs at once and how many threads each, from this machine's cores, memory and GPUs."""

    cores: int
    gpus: int
    jobs: int
    threads: int
    per_device: int = 1  # runs sharing one GPU (each capped to 1/per_device of its memory)

    @property
    def gpu_memory_fraction(self) -> float | None:
        return 1.0 / self.per_device if self.gpus and self.per_device > 1 else None

    @classmethod
    def detect(cls, device: str, jobs: int | None, threads: int | None, per_device: int | None = None) -> Resources:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        gpus = _gpu_count() if device != "cpu" else 0
        if per_device is not None:
            if jobs is not None:
                raise BenchError("--jobs and --jobs-per-device both set the runs at once: give one of them")
            if per_device < 1:
                raise BenchError(f"--jobs-per-device must be at least 1, got {per_device}")
            # K runs on each GPU, or K runs sharing the CPU's cores (cores // K threads each).
            jobs = per_device * max(gpus, 1)
            return cls(cores, gpus, jobs, threads or max(1, cores // jobs), per_device)
        if jobs is None:
            # One run per GPU; on CPU, two threads per run (small models gain little from more threads,
            # a big one still gets a few) or the threads asked for, within about 2 GiB of available
            # memory per run.
            jobs = gpus or max(1, min(cores // (threads or 2), int(_available_gib() // 2) or 1))
        if jobs < 1:
            raise BenchError(f"--jobs must be at least 1, got {jobs}")
        if threads is not None and threads < 1:
            raise BenchError(f"--cpus-per-task must be at least 1, got {threads}")
        return cls(cores, gpus, jobs, threads or max(1, cores // jobs))


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _available_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("inf")  # unknown: do not limit by memory


def default_out(grid_path: str | Path) -> Path:
    return Path("results") / Path(grid_path).stem


def make_jobs(grid: Grid, runs: list[Run], out: Path, runs_dir: Path, gpu_memory_fraction: float | None = None) -> list[Job]:
    state = str((out / STATE).resolve())
    execution = {
        "runs_dir": str(runs_dir.resolve()),
        "records_dir": str(out.resolve()),
        "data_root": str(grid.data_root) if grid.data_root else None,
        "device": grid.device,
        "gpu_memory_fraction": gpu_memory_fraction,
    }
    return [
        Job(run.hash, run.label, run.spec.to_dict(), execution, str((out / run.record).resolve()), state, run.train_epochs)
        for run in runs
    ]


def write_manifest(grid: Grid, out: Path) -> None:
    """Every run of the grid with its record path and full configuration, for people and tools."""
    plan = {
        "grid": str(grid.path),
        "runs": [
            {"hash": r.hash, "label": r.label, "record": r.record, "config": to_jsonable(r.config)}
            for r in grid.runs
        ],
    }
    files.write_atomic(out / STATE / "plan.json", json.dumps(plan, indent=1, sort_keys=True) + "\n")


def run_sweep(args) -> int:
    """The `bench sweep` command (argparse namespace from bench.ui.cli)."""
    grid = load_grid(args.grid)
    out = Path(args.out) if args.out else default_out(args.grid)
    runs_dir = Path(args.runs_dir)
    on_this_machine = (
        args.executor == "local"
        or (args.executor == "ray" and not args.address)
        or (args.executor == "slurm" and args.cluster == "local")
    )
    if grid.threads is not None and args.cpus_per_task not in (None, grid.threads):
        raise BenchError(f"{args.grid} fixes threads = {grid.threads} (part of every run's identity); drop --cpus-per-task {args.cpus_per_task}")
    cpus = args.cpus_per_task or grid.threads
    sizing = Resources.detect(grid.device, args.jobs, cpus, args.jobs_per_device) if on_this_machine else None
    # Each run's thread count is part of its identity: bind it before looking for finished records.
    grid = grid.with_threads(sizing.threads if sizing else cpus or 4)
    done = {r.hash for r in grid.runs if finished(out / r.record) is not None}
    todo = [r for r in grid.runs if r.hash not in done]

    if args.dry_run:
        from bench.sweep.plan import describe

        print(describe(grid, out, done, args.executor, sizing))
        return 0

    executor = _executor(args, grid, out, sizing)  # checks the optional package before anything runs
    files.ensure_dir(out)
    write_manifest(grid, out)
    jobs = make_jobs(grid, todo, out, runs_dir, sizing.gpu_memory_fraction if sizing else None)
    for job in jobs:  # a progress file left by an earlier, interrupted sweep would show it running
        job.progress.unlink(missing_ok=True)
    if done:
        print(f"{len(done)} of {len(grid.runs)} runs already have their record in {out}; skipping them", file=sys.stderr)
    monitor = Monitor(jobs, len(done))
    with stop_on_signals(StopFlag()) as stop:
        if jobs:
            with monitor:
                executor.run(jobs, monitor, stop)
    for line in monitor.summary(out):
        print(line)
    if stop.requested:
        print(f"bench: stopped by {stop.signal_name or 'a signal'}; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILED if monitor.count("failed") else 0


def _executor(args, grid: Grid, out: Path, sizing: Resources | None):
    if args.executor == "local":
        from bench.sweep.executors.local import LocalExecutor

        return LocalExecutor(sizing.jobs, list(range(sizing.gpus)))
    if args.executor == "ray":
        from bench.sweep.executors import require
        from bench.sweep.executors.ray import RayExecutor

        require("ray")
        if sizing is not None:  # a local instance: size it like the local executor
            return RayExecutor(None, sizing.jobs, sizing.threads, sizing.cores)
        return RayExecutor(args.address, args.jobs, args.cpus_per_task or 4, 0)
    from bench.sweep.executors.slurm import (
        SlurmExecutor,  # raises the install hint without submitit
    )

    gpus = args.gpus_per_task
    if gpus is None:
        gpus = (sizing.gpus and 1) if sizing else (0 if grid.device == "cpu" else 1)
    return SlurmExecutor(
        (out / STATE / "submitit").resolve(), args.cluster, sizing.jobs if sizing else args.jobs, args.partition,
        args.time, gpus, sizing.threads if sizing else (args.cpus_per_task or 4),
    )
