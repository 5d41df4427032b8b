"""One `bench evaluate`: the dense baseline → prune with the adapter → retrain under the protocol,
once per seed → the same for a random control with identical per-layer structure → count → one
validated record at `records_dir/<spec.record_path>`.

An evaluation whose record is already there (from an earlier `bench evaluate` or a `bench sweep`
into the same folder) is not run again: the record is read back and returned.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from bench import defaults
from bench.core import records
from bench.core.latency import measure as measure_latency
from bench.errors import BenchError
from bench.evaluation.arms import Arm
from bench.evaluation.dense import train_dense
from bench.evaluation.execution import Execution
from bench.evaluation.loading import example_inputs, load_data, new_model
from bench.evaluation.preflight import Preflight
from bench.evaluation.record import build_record
from bench.evaluation.runs import (
    CALIBRATION_SEED,
    Evaluation,
    calibration_batches,
    soft_schedule,
)
from bench.evaluation.runs import run as retrain
from bench.evaluation.spec import RunSpec
from bench.infra import distributed
from bench.infra import files
from bench.infra.environment import (
    compile_usable,
    describe,
    set_threads,
    training_device,
)
from bench.infra.interrupt import StopFlag
from bench.infra.progress import Reporter, SilentReporter
from bench.pruning import Adapter
from bench.pruning.controls import random_control_adapter
from bench.pruning.job import PruneJob

DEFAULT_RECORDS_DIR = defaults.RECORDS_DIR
SAME_AS_RANDOM_CONTROL = "same_as_random_control"  # the record's allocation control, when it is the random control's network


def specify(device: torch.device, reporter: Reporter | None = None, **fields) -> RunSpec:
    """A RunSpec for this process: the device type, the CPU thread count it runs with (set_threads
    first), whether torch.compile is usable here, and the torchrun world size."""
    compile = compile_usable(fields.pop("compile", False), device, reporter or SilentReporter())
    return RunSpec(
        **fields,
        device=device.type,
        threads=torch.get_num_threads() if device.type == "cpu" else None,
        compile=compile,
        world_size=distributed.world_size(),
    )


def evaluate(spec: RunSpec, execution: Execution = Execution(), reporter: Reporter | None = None, stop: StopFlag | None = None) -> tuple[dict, Path]:
    """Run (or resume, or find) one evaluation and write its record. Each (arm, seed) run is cached by
    what determines it under runs/run/ and is never trained twice, so rerunning a command continues it."""
    reporter = reporter or SilentReporter()
    start = time.perf_counter()
    device = _bind(spec, execution, reporter)
    path = Path(execution.records_dir) / spec.record_path
    existing = distributed.from_main(lambda: _valid_record(path))
    if existing is not None:
        reporter.message(f"the record of this evaluation is already in {path}; nothing to run")
        return existing, path

    adapter = spec.make_adapter()
    env = describe(device)  # the commit as the run starts, not as it ends
    if spec.compile:
        env["compile"] = True
    env["memory_format"] = spec.memory_format
    # Fail fast, before any data loads or anything trains: the checks every run passes, as a sweep's.
    Preflight().check(spec)
    data = load_data(spec.dataset, device, split_seed=spec.split_seed, data_root=execution.data_root, download=execution.download)
    fresh = new_model(spec.model, data.spec, device)
    job = PruneJob(fresh, spec.model, adapter, spec.target, example_inputs=example_inputs(data.spec, device), layout=spec.layout)
    layout = job.resolve_layout()  # checked, with the rest, by the preflight above
    files.ensure_dir(execution.records_dir)
    dense = train_dense(
        spec.model,
        data,
        seed=spec.dense_seed,
        runs_dir=execution.runs_dir,
        checkpoint=spec.checkpoint,
        hook=adapter.dense_hook(),
        reporter=reporter,
        stop=stop,
        compile=spec.compile,
        memory_format=spec.memory_format,
        precision=spec.precision,
        checkpoint_every=execution.checkpoint_every,
    )
    dense_latency = measure_latency(dense.model, data.spec.input_shape, device) if distributed.is_main() else None

    # A cost target becomes the adapter's keep counts, searched once on the dense weights (its scores
    # drawn on the same calibration batches every seed prunes with).
    job, match = replace(job, model=dense.model, calibration=calibration_batches(adapter, data), seed=CALIBRATION_SEED).resolved()
    if match is not None:
        reporter.message(
            f"--speedup {match.speedup:g}: {adapter.name} keeps {100 / match.achieved_speedup:.2f}% of the FLOPs "
            f"({match.achieved_speedup:.3f}x; ratio {match.ratio:.4f}, {match.candidates} structures counted)"
            + (f"; {match.note}" if match.note else "")
        )
    arms = [Arm(adapter, "method")]
    if spec.random_control:
        arms.append(Arm(random_control_adapter(adapter), "control"))
    ev = Evaluation(
        spec=spec,
        execution=execution,
        job=replace(job, layout=layout.name),
        data=data,
        dense_counts=dense.counts,
        reporter=reporter,
        stop=stop,
        total_runs=len(spec.seeds) * len(arms),
        soft_epochs=len(spec.seeds) * soft.epochs if (soft := soft_schedule(adapter, data.spec.recipe)) else 0,
    )
    allocation: Arm | str | None = None  # the allocation control: an arm, SAME_AS_RANDOM_CONTROL, or not asked
    for seed in spec.seeds:
        method_steps = None
        for arm in arms:
            outcome = retrain(ev, arm.adapter, seed, method_steps)
            method_steps = method_steps or outcome.steps
            arm.add(outcome, seed, ev.example_inputs(), data.spec.input_shape, spec.iterations)
        if spec.allocation_control and allocation is None:
            allocation = allocation_arm(ev, adapter, arms[0], len(spec.seeds), spec.random_control)
        if isinstance(allocation, Arm):
            outcome = retrain(ev, allocation.adapter, seed, [allocation.structure])
            allocation.add(outcome, seed, ev.example_inputs(), data.spec.input_shape, spec.iterations)
    record = build_record(spec, data, dense, ev.resolved, arms, time.perf_counter() - start, env, dense_latency, layout,
                          match=match, allocation=allocation)
    if distributed.is_main():
        records.write(record, path)
    return record, path


def allocation_arm(ev: Evaluation, method: Adapter, method_arm: Arm, seeds: int, random_control: bool) -> Arm | str:
    """The allocation control of a method: random channels, one rate for every entry of the method's
    layout, at the method's FLOPs. Where that is the method's own widths (a layerwise method at one
    rate) it is the random control's network, trained once: the record says so instead (when the
    random control runs; without it, it is trained as an arm of its own)."""
    structure = ev.job.allocation_control(method_arm.structure, method_arm.counts.flops)
    if structure == method_arm.structure and random_control:
        return SAME_AS_RANDOM_CONTROL
    ev.total_runs += seeds
    ev.reporter.plan(ev.total_runs * ev.resolved.epochs + ev.soft_epochs)
    return Arm(random_control_adapter(method), "allocation", structure=structure)


def _bind(spec: RunSpec, execution: Execution, reporter: Reporter) -> torch.device:
    """Set this process up as the spec says, or say why it cannot run the spec here."""
    device = training_device(execution.device)
    if device.type != spec.device:
        raise BenchError(f"this run is specified for {spec.device} but would run on {device.type} here (--device {execution.device})")
    if spec.threads is not None:
        set_threads(spec.threads)
    if spec.compile and not compile_usable(True, device, reporter):
        raise BenchError("this run is specified with torch.compile, which is unavailable here")
    if execution.gpu_memory_fraction is not None and device.type == "cuda":
        torch.cuda.set_per_process_memory_fraction(execution.gpu_memory_fraction, device)
    if distributed.world_size() != spec.world_size:
        raise BenchError(f"this run is specified for {spec.world_size} process(es) but runs in {distributed.world_size()}")
    return device


def _valid_record(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return records.read(path)
    except BenchError:
        return None  # a damaged record is recomputed (and replaced atomically)
