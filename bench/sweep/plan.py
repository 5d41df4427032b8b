"""`bench sweep --dry-run`: the table of runs, the count, and an estimated cost.

The estimate is measured, not guessed from FLOPs: a few SGD steps of each dense model at its
protocol's batch size on random inputs of the dataset's shape, here, with the threads a run would
get, times the steps per epoch, times the retraining epochs still to do. It counts training steps
only (no evaluation passes, pruning, start-up), and the pruned networks train faster than the dense
one, so it is an upper bound for the training and says nothing of the rest. It is this machine's
speed: for Ray or SLURM read it as compute, not as the cluster's wall time.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from pathlib import Path

import torch
from tabulate import tabulate

from bench import api
from bench.data import DATASETS, VAL_FRACTION
from bench.errors import BenchError
from bench.sweep.grid import Grid, Run

# Official training-set sizes; the benchmark holds VAL_FRACTION of each out as its val split.
TRAIN_SIZES = {"digits": 1437, "cifar10": 50000, "cifar100": 50000, "imagenet": 1281167}
MEASURED_STEPS = 5
MEASURE_SECONDS = 3.0  # per model: stop measuring early when steps are slow
MAX_MEASURED_BATCH = 32  # bigger batches are timed at this size and scaled (keeps a dry run quick)


def describe(grid: Grid, out: Path, done: set[str], executor: str, sizing) -> str:
    todo = [r for r in grid.runs if r.hash not in done]
    to_do = grid.epochs_to_do(done)
    rows = [
        [i, r.hash, r.adapter, r.target_tag, " ".join(r.hp) or "-", r.model, r.dataset, r.protocol_name,
         _seeds(r.seeds), _epochs(r, to_do), "done" if r.hash in done else "to do"]
        for i, r in enumerate(grid.runs, 1)
    ]
    headers = ["#", "run", "adapter", "target", "hp", "model", "dataset", "protocol", "seeds", "epochs", "status"]
    seeds = {len(r.seeds) for r in grid.runs}
    control = "+ the random control" if grid.random_control else "(no random control)"
    merged = f" ({grid.duplicates} duplicate grid points merged)" if grid.duplicates else ""
    lines = [
        f"sweep {grid.path} → {out} (executor {executor})",
        tabulate(rows, headers, tablefmt="simple", disable_numparse=True),
        "",
        f"{len(grid.runs)} runs: {len(todo)} to do, {len(done)} done{merged}",
        f"a run = one `bench evaluate`: all {'/'.join(map(str, sorted(seeds)))} seeds {control} → one record "
        f"at {out}/<dataset>/<model>/<adapter>_<target>_<protocol>_<run>.json",
    ]
    soft = " plus each soft pruning once" if any(r.soft_epochs for r in todo) else ""
    lines.append(f"training: {sum(to_do.values())} epochs to do (seeds × arms × protocol epochs{soft}, summed over runs)")
    lines += _dense_lines(grid, todo)
    if todo:
        lines += _estimate_lines(grid, todo, to_do, sizing)
    return "\n".join(lines)


def _epochs(run: Run, to_do: dict[str, int]) -> str:
    epochs = to_do.get(run.hash, run.train_epochs)
    return str(epochs) if run.epochs_exact else f"≥{epochs}"


def _seeds(seeds: tuple[int, ...]) -> str:
    return ",".join(map(str, seeds)) if len(seeds) <= 5 else f"{seeds[0]}..{seeds[-1]} ({len(seeds)})"


def _dense_lines(grid: Grid, todo: list[Run]) -> list[str]:
    given = sorted({r.spec.checkpoint_sha256 for r in todo if r.spec.checkpoint is not None})
    trained = sorted({(r.model, r.dataset) for r in todo if r.spec.checkpoint is None})
    text = f"dense baselines: {len(given)} from checkpoints"
    if trained:
        text += f", {len(trained)} trained once and cached under --runs-dir if not there yet ({', '.join('/'.join(p) for p in trained)})"
    return [text]


def _estimate_lines(grid: Grid, todo: list[Run], to_do: dict[str, int], sizing) -> list[str]:
    threads = sizing.threads if sizing else None
    try:
        device, note = api.resolve_device(grid.device), ""
    except BenchError:  # e.g. cuda asked for, measured on a login node without GPUs
        device, note = torch.device("cpu"), f", not {grid.device}: it is not available here"
    seconds: dict[tuple[str, str, int], float | None] = {}

    def epoch(model: str, dataset: str, batch_size: int) -> float | None:
        key = (model, dataset, batch_size)
        if key not in seconds:
            seconds[key] = measure_epoch(model, dataset, batch_size, device=device, threads=threads)
        return seconds[key]

    by_key: dict[tuple[str, str, int], int] = defaultdict(int)
    for r in todo:
        by_key[(r.model, r.dataset, r.batch_size)] += to_do[r.hash]
    unknown = []
    total = 0.0
    for key, epochs in sorted(by_key.items()):
        if epoch(*key) is None:
            unknown.append(f"{key[0]}/{key[1]}")
        else:
            total += epoch(*key) * epochs
    per_epoch = ", ".join(f"{m}/{d} {_duration(epoch(m, d, b))}" for m, d, b in sorted(by_key) if epoch(m, d, b) is not None)
    where = f"{device.type}{note}, {threads or 'all'} thread{'s' if threads != 1 else ''} per run"
    lines = [f"estimated training compute: {_duration(total)} (per epoch: {per_epoch}; {where})"]
    dense = []
    for model, dataset in sorted({(r.model, r.dataset) for r in todo if r.spec.checkpoint is None}):
        recipe = DATASETS.get(dataset).recipe
        t = epoch(model, dataset, recipe.batch_size)
        if t is not None:
            dense.append(f"{model}/{dataset} {recipe.epochs} epochs ≈ {_duration(t * recipe.epochs)}")
    if dense:
        lines.append(f"plus, where not cached yet, the dense baselines: {', '.join(dense)} (one run trains each, the others wait)")
    if sizing is not None:
        at_once = f"{sizing.jobs} run{'s' if sizing.jobs != 1 else ''} at once"
        lines.append(f"estimated wall time with {at_once}: {_duration(total / sizing.jobs)}")
    if unknown:
        lines.append(f"not estimated (dataset size unknown): {', '.join(unknown)}")
    lines.append(
        f"estimate basis: the fastest of up to {MEASURED_STEPS} timed SGD steps of each dense model at its protocol "
        "batch size on random inputs, here, × steps per epoch × epochs to do; training only (no evaluation, "
        "pruning or start-up), and pruned networks train faster than dense ones"
    )
    return lines


def measure_epoch(model_name: str, dataset: str, batch_size: int, *, device, threads: int | None) -> float | None:
    """Seconds of one training epoch of the dense model (see the module docstring)."""
    spec = DATASETS.get(dataset)
    n = TRAIN_SIZES.get(spec.name)
    if n is None:
        return None
    steps = math.ceil(round(n * (1 - VAL_FRACTION)) / batch_size)
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        model = api.new_model(model_name, spec, device).train()
        b = min(batch_size, MAX_MEASURED_BATCH)
        x = torch.randn(b, *spec.input_shape, device=device)
        y = torch.randint(0, spec.num_classes, (b,), device=device)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        times: list[float] = []
        began = time.perf_counter()
        # The first step warms up allocators and kernels; then the fastest of a few, since on a shared
        # machine the slow ones measure the neighbours, not the model.
        while len(times) < MEASURED_STEPS + 1 and (len(times) < 3 or time.perf_counter() - began < MEASURE_SECONDS):
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
        return min(times[1:]) * (batch_size / b) * steps
    finally:
        torch.set_num_threads(previous)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
