"""One retraining run: an arm's pruned network (the method or its random control) for one seed.

Three shapes, chosen by what the adapter declares and the user asks for:
- one-shot: prune the dense network once, retrain under the protocol;
- iterative (`--iterations K`): prune to 1/K of the target, retrain, prune to 2/K, retrain, ... with
  every rate counted against the dense network; the record keeps every step;
- soft pruning first (the adapter declares `soft_pruning`, e.g. SFP): train at full width from the
  dense weights with the adapter's hook under the original step schedule, remove for real what the
  adapter's final scores say, then retrain the small network under the protocol.

A random control is pruned to the method's per-unit counts of the same seed at every step. The pruning
itself (each step, the control's matching, the soft pruner) is the evaluation's `PruneJob`
(bench/pruning/job.py); this module trains, caches and records.

A run is identified by what determines its numbers, not by the record that asked for it: the network
it starts from (architecture, weights and masks), what the protocol does (its optimiser and the LR of
every step, not its name: a schedule that is another under a new name reuses its runs), the data and seed, the
environment that changes numbers (device type, threads, compile, memory format, world size) and, for a run that
prunes while it trains, the adapter and target. Its folder is runs/run/<that hash>/, so the random
controls of different methods that come out identical (same dense weights, structure, protocol and
seed) are trained once and shared, and the records that reuse a run say so (`reused`).

A per-run file lock makes a second process that needs a run another process is training wait for it,
say so, and reuse it; nobody writes into a run folder it does not hold. Runs resume: each (step of a)
run checkpoints (after its first epoch, then at most every `Evaluation.checkpoint_every` seconds, at
its end and when stopped), and a finished one leaves `result.json` (and, for iterative steps, its
trained weights) so that it is never trained again.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import torch

from bench.core.checkpoint import Checkpointer, weights_digest
from bench.core.config import Recipe, config_hash, to_jsonable
from bench.core.counting import Counts, count
from bench.core.protocols import Protocol, ResolvedProtocol, load_protocol, original_schedule, resolve, training_identity
from bench.core.train import TrainResult, TrainSpec, train
from bench.core.train import evaluate as evaluate_accuracy
from bench.data import DataBundle
from bench.errors import BenchError
from bench.evaluation.loading import load_weights, save_weights
from bench.evaluation.execution import Execution
from bench.evaluation.spec import RETRAINING_VERSION, RunSpec
from bench.infra import distributed
from bench.infra import files
from bench.infra.interrupt import StopFlag
from bench.infra.locks import exclusive
from bench.infra.progress import Reporter
from bench.pruning import Adapter, SoftPruning
from bench.pruning.job import PruneJob
from bench.pruning.structure import PrunedModel, Structure
from bench.pruning.surgery import rescale_filters


@dataclass
class Evaluation:
    """What every run of one evaluation shares."""

    # The method's pruning of the dense model, its target and layout resolved (a control takes its
    # layout from the method's structure); each run's job replaces its adapter, seed and calibration.
    spec: RunSpec  # what the evaluation is: its iterations, protocol, environment and hash are read here
    execution: Execution  # where it runs: run folders live in runs_dir/run/<run key>/
    job: PruneJob
    data: DataBundle
    dense_counts: Counts
    reporter: Reporter
    stop: StopFlag | None
    total_runs: int
    resolved: ResolvedProtocol | None = None
    soft_epochs: int = 0  # epochs of soft pruning before the protocol, summed over the method's seeds

    @cached_property
    def protocol(self) -> Protocol:
        return load_protocol(self.spec.protocol)

    @property
    def dense_model(self) -> torch.nn.Module:
        return self.job.model

    def example_inputs(self) -> torch.Tensor:
        return self.job.example_inputs

    def pruning(self, adapter: Adapter, seed: int) -> PruneJob:
        """The job of one arm's run: its adapter, the run's seed, and the batches that adapter scores on."""
        return replace(self.job, adapter=adapter, seed=seed, calibration=calibration_batches(adapter, self.data))


@dataclass
class RunOutcome:
    record: dict  # the run's entry in the record's `runs` (with its run key, and whether it was reused)
    steps: list[Structure] = field(default_factory=list)  # the structure after every step
    final: PrunedModel | None = None  # the pruned architecture (trained weights unless reused)


def check_iterations(adapter: Adapter, protocol: Protocol, iterations: int) -> None:
    if iterations < 1:
        raise BenchError(f"--iterations must be >= 1, got {iterations}")
    if iterations == 1:
        return
    if prunes_while_training(adapter):
        raise BenchError(f"adapter {adapter.name!r} prunes while it trains (soft pruning); --iterations does not apply to it")
    if protocol.reinitialize:
        raise BenchError(f"--iterations needs a protocol that keeps the weights; {protocol.name} starts from scratch")


def prunes_while_training(adapter: Adapter) -> bool:
    return adapter.soft_pruning() is not None


def soft_schedule(adapter: Adapter, recipe: Recipe) -> ResolvedProtocol | None:
    """The schedule of the adapter's own soft-pruning training on a dataset (None: it has none)."""
    soft = adapter.soft_pruning()
    if soft is None:
        return None
    return original_schedule(recipe, name=f"{adapter.name}-soft", epochs=soft.epochs, lr_scale=soft.lr_scale)


def run(ev: Evaluation, adapter: Adapter, seed: int, reference_steps: list[Structure] | None) -> RunOutcome:
    """Retrain one arm for one seed; `reference_steps` (the method's structures) make it a control."""
    if prunes_while_training(adapter) and reference_steps is None:
        return _run_soft(ev, adapter, seed)
    structures: list[Structure] = []
    step_records: list[dict] = []
    pruned: PrunedModel | None = None
    # Each step prunes the model the previous one trained (in place, below); a control stops where its method did.
    for i, pruned in enumerate(ev.pruning(adapter, seed).steps(ev.spec.iterations, reference_steps), start=1):
        structures.append(pruned.structure)
        counts = count(pruned.model, ev.example_inputs(), pruned.masks)
        resolved = _resolve(ev, counts)
        if resolved.reinitialize:
            reinitialize(pruned.model, seed)
            pruned.apply_masks()
        label = f"{adapter.name} seed {seed}" + (f" step {i}/{ev.spec.iterations}" if ev.spec.iterations > 1 else "")
        key = run_key(ev, pruned.model, pruned.masks, resolved, seed)
        result = _train_or_reuse(ev, pruned, resolved, seed, key, label, keep_weights=ev.spec.iterations > 1)
        if ev.spec.iterations == 1:
            return RunOutcome(result, structures, pruned)
        step_records.append({"step": i, "structure": pruned.structure.to_dict(), **counts.to_dict(), **result})
        if result["diverged"]:
            break
    return RunOutcome(_iterative_record(seed, step_records), structures, pruned)


# One pruned network per evaluation: the batches an adapter scores on are drawn from a fixed seed, so
# every retraining seed starts from the same pruned network (for globally allocated methods such as
# taylor, per-seed batches would give every seed different layer widths, and the record one structure).
CALIBRATION_SEED = 0
# Training batches on which a soft pruner may re-estimate BatchNorm statistics (of the protocol's batch size).
RECALIBRATION_BATCHES = 10


def calibration_batches(adapter: Adapter, data: DataBundle) -> list:
    """The training batches an adapter scores on (none if it needs none)."""
    if not adapter.needs_calibration:
        return []
    n_batches, batch_size = adapter.calibration_size()
    return data.calibration_batches(n_batches, batch_size, seed=CALIBRATION_SEED)


def _resolve(ev: Evaluation, counts: Counts) -> ResolvedProtocol:
    flops_ratio = ev.dense_counts.flops / max(counts.flops, 1) if ev.protocol.budget == "flops" else None
    resolved = resolve(ev.protocol, ev.data.spec.recipe, flops_ratio=flops_ratio)
    if ev.resolved is None:
        ev.reporter.plan(ev.total_runs * ev.spec.iterations * resolved.epochs + ev.soft_epochs)
    ev.resolved = resolved
    return resolved


def run_key(ev: Evaluation, model: torch.nn.Module, masks: dict, resolved: ResolvedProtocol, seed: int, **extra) -> str:
    """What determines a retraining run's numbers (see the module docstring); names its folder."""
    return config_hash(
        {
            "kind": "retrain",
            "version": RETRAINING_VERSION,
            "model": ev.job.model_name,
            "architecture": config_hash(repr(model)),  # the module tree: widths, scatter slots, shortcuts
            "weights": weights_digest(model.state_dict()),
            "masks": weights_digest(masks),
            # what the schedule does, not its name: a schedule that is another reuses its runs
            "training": training_identity(resolved, ev.data.steps_per_epoch(resolved.batch_size)),
            "data": [ev.data.spec.name, ev.data.split_seed],
            "seed": seed,
            "environment": ev.spec.environment_identity(),
            **extra,
        }
    )


def _run_dir(ev: Evaluation, key: str) -> Path:
    return Path(ev.execution.runs_dir) / "run" / key


def _run_soft(ev: Evaluation, adapter: Adapter, seed: int) -> RunOutcome:
    """The adapter's own soft-pruning training, then the protocol: the network trains at full width
    from the dense weights with the adapter's hook (SFP zeroes filters every epoch), the zeroed
    channels are removed for real, and the small network retrains under the protocol like any other.
    The soft phase does not depend on the protocol, so every protocol of a (method, target, seed)
    shares it; its own result (the reference's "without fine-tuning" number) is kept as `soft`."""
    soft = adapter.soft_pruning()
    schedule = soft_schedule(adapter, ev.data.spec.recipe)
    job = ev.pruning(adapter, seed)
    planned = job.prune()  # the structure the hook prunes towards
    key = run_key(
        ev, ev.dense_model, {}, schedule, seed,
        adapter=[adapter.name, adapter.version, to_jsonable(adapter.hparams)], target=job.target.to_dict(), layout=job.layout,
    )
    label = f"{adapter.name} seed {seed} (soft pruning)"
    run_dir = _run_dir(ev, key)
    weights = run_dir / "model.pt"  # the full-width network after its final zeroing
    model = copy.deepcopy(ev.dense_model)
    with _holding(ev, run_dir, label):
        entry = _finished(ev, run_dir, key, label)
        if entry is None or not load_weights(model, weights):
            entry = _train_soft(ev, job, soft, schedule, model, run_dir, key, label)
    small = job.prune(model)
    if small.structure != planned.structure:
        raise BenchError(f"{adapter.name}: the network pruned after soft pruning does not have the planned structure")
    if soft.rescale:
        rescale_filters(small.model, ev.dense_model, ev.example_inputs(), small.structure.layout)
    resolved = _resolve(ev, count(small.model, ev.example_inputs(), small.masks))
    if resolved.reinitialize:
        reinitialize(small.model, seed)
    retrain_key = run_key(ev, small.model, small.masks, resolved, seed)
    result = _train_or_reuse(ev, small, resolved, seed, retrain_key, f"{adapter.name} seed {seed}", keep_weights=False)
    phase = {k: entry[k] for k in ("top1", "top5", "best_epoch", "best_val_top1", "diverged", "seconds", "run_key", "reused")}
    return RunOutcome({**result, "soft": {"epochs": schedule.epochs, "lr_max": schedule.lr_max, **phase}}, [small.structure], small)


def _train_soft(ev: Evaluation, job: PruneJob, soft: SoftPruning, schedule: ResolvedProtocol, model,
                run_dir: Path, key: str, label: str) -> dict:
    """Train `model` in place with the soft-pruning hook of `job` (the run's); its entry states the small
    network's accuracy."""
    seed = job.seed
    recalibration = ev.data.calibration_batches(RECALIBRATION_BATCHES, schedule.batch_size, seed=CALIBRATION_SEED)
    zeroing = replace(job, model=model).soft_pruner(recalibration=recalibration)
    result = _train(ev, model, schedule, seed, run_dir, label, [soft.hook(zeroing)])
    if not result.diverged:  # the accuracy of the small network, not of the zeroed full-width one
        small = job.prune(model)
        result.test_top1, result.test_top5 = evaluate_accuracy(small.model, ev.data, "test", ev.spec.memory_format)
        small_val, _ = evaluate_accuracy(small.model, ev.data, "val", ev.spec.memory_format)
        if abs(small_val - result.best_val_top1) > 1e-6:  # e.g. --hp interval > 1: the best epoch was not zeroed
            ev.reporter.message(
                f"{label}: the small network validates at {small_val:.2f}%, the soft network it came from at "
                f"{result.best_val_top1:.2f}%: the network retrained differs from the one validated"
            )
    save_weights(model, run_dir / "model.pt")
    return _finish(ev, run_dir, key, seed, result)


def _train_or_reuse(
    ev: Evaluation, pruned: PrunedModel, resolved: ResolvedProtocol, seed: int, key: str, label: str, keep_weights: bool
) -> dict:
    run_dir = _run_dir(ev, key)
    weights = run_dir / "model.pt"
    with _holding(ev, run_dir, label):
        finished = _finished(ev, run_dir, key, label)
        # The next step of an iterative run prunes the weights this step trained: reuse needs them too.
        if finished is not None and (not keep_weights or load_weights(pruned.model, weights)):
            return finished
        result = _train(ev, pruned.model, resolved, seed, run_dir, label, pruned.hooks())
        if keep_weights:
            save_weights(pruned.model, weights)
        return _finish(ev, run_dir, key, seed, result)


def _holding(ev: Evaluation, run_dir: Path, label: str):
    return exclusive(run_dir / "lock", ev.reporter, f"{label}: another process is training this run ({run_dir}); waiting for it")


def _finished(ev: Evaluation, run_dir: Path, key: str, label: str) -> dict | None:
    """A finished run's entry, marked as reused when another evaluation trained it."""
    stored = distributed.from_main(lambda: _load_json(run_dir / "result.json"))
    if stored is None:
        return None
    trained_for = stored.pop("trained_for", None)
    reused = trained_for != ev.spec.hash
    what = "another evaluation's" if reused else "its own"
    ev.reporter.message(f"{label}: reusing {what} finished run {key} ({run_dir})")
    return {**stored, "run_key": key, "reused": reused}


def _train(ev: Evaluation, model, resolved: ResolvedProtocol, seed: int, run_dir: Path, label: str, hooks) -> TrainResult:
    checkpointer = Checkpointer(files.ensure_dir(run_dir), warn=ev.reporter.message, every=ev.execution.checkpoint_every)
    with ev.reporter.task(label, resolved.epochs) as on_epoch:
        result = train(
            model,
            ev.data,
            protocol_spec(resolved, ev.data),
            seed=seed,
            hooks=hooks,
            on_epoch=on_epoch,
            checkpointer=checkpointer,
            stop=ev.stop,
            compile=ev.spec.compile,
            memory_format=ev.spec.memory_format,
            precision=ev.spec.precision,
            warn=ev.reporter.message,
        )
    if result.diverged:
        ev.reporter.message(f"{label} diverged (NaN/inf loss): marked in the record, not reported as a result")
    return result


def _finish(ev: Evaluation, run_dir: Path, key: str, seed: int, result: TrainResult) -> dict:
    """Write the finished run's entry (the marker that it is never trained again) and drop its checkpoint."""
    entry = run_record(seed, result)
    if distributed.is_main():
        stored = {**entry, "trained_for": ev.spec.hash}
        files.write_atomic(run_dir / "result.json", json.dumps(stored, sort_keys=True) + "\n")
        Checkpointer(run_dir).clear()
    return {**entry, "run_key": key, "reused": False}


def run_record(seed: int, result: TrainResult) -> dict:
    finite = lambda v: v if v is not None and math.isfinite(v) else None  # noqa: E731
    return {
        "seed": seed,
        "top1": None if result.diverged else finite(result.test_top1),
        "top5": None if result.diverged else finite(result.test_top5),
        "best_epoch": result.best_epoch,
        "best_val_top1": max(result.best_val_top1, 0.0) if result.best_epoch >= 0 else 0.0,
        "diverged": result.diverged,
        "seconds": round(result.seconds, 3),
        "curve": [e.to_dict() for e in result.curve],
    }


def _iterative_record(seed: int, steps: list[dict]) -> dict:
    """The run's result is its last step's; every step (structure, counts, curve, run key) is kept."""
    last = steps[-1]
    entry = {k: last[k] for k in ("top1", "top5", "best_epoch", "best_val_top1", "diverged", "curve")}
    entry["seed"] = seed
    entry["seconds"] = round(sum(s["seconds"] for s in steps), 3)
    entry["reused"] = all(s["reused"] for s in steps)
    entry["steps"] = [{k: v for k, v in s.items() if k != "seed"} for s in steps]
    return entry


def protocol_spec(protocol: ResolvedProtocol, data: DataBundle) -> TrainSpec:
    spe = data.steps_per_epoch(protocol.batch_size)
    return TrainSpec(
        epochs=protocol.epochs,
        batch_size=protocol.batch_size,
        lr_at=protocol.lr_fn(spe),  # per step, in closed form: never the whole schedule in memory
        momentum=protocol.momentum,
        nesterov=protocol.nesterov,
        weight_decay=protocol.weight_decay,
    )


def reinitialize(model: torch.nn.Module, seed: int) -> None:
    """Scratch protocols: the pruned architecture from a fresh random init (seeded), as its dense model
    was initialized: every module's default reset, then the model's own `init_parameters()` where it
    has one (the built-in models' Kaiming fan-out convs; bench.models.init)."""
    torch.manual_seed(seed)
    for module in model.modules():
        if module is not model and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    init = getattr(model, "init_parameters", None)
    if callable(init):
        init()


def _load_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
