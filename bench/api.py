"""The Python API the CLI wraps: `train_dense()`, `prune_model()` and `evaluate()`.

One `evaluate` = the dense baseline (cached by the hash of everything that determines it, or the
user's checkpoint) → prune with the adapter → retrain under the protocol, once per seed → the same
for a random control with identical per-layer structure → count → one validated record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import json
import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from filelock import FileLock, Timeout

import bench
from bench import distributed, records, retraining
from bench.checkpoint import CHECKPOINT_EVERY, Checkpointer, weights_digest
from bench.config import config_hash, file_digest, to_jsonable
from bench.counting import FLOP_CONVENTION, Counts, count
from bench.data import DataBundle, DatasetSpec, load_dataset
from bench.errors import BenchError
from bench.interrupt import StopFlag
from bench.latency import Latency, measure as measure_latency, speedup as latency_speedup
from bench.models import build_model
from bench.progress import Reporter, SilentReporter
from bench.hooks import TrainingHook
from bench.protocols import Protocol, ResolvedProtocol, load_protocol, resolve
from bench.pruning import Adapter, Target, get_adapter
from bench.pruning.engine import PrunedModel, Structure, check_soft_layout, check_target, identity_routes, prune
from bench.pruning.layouts import Layout
from bench.retraining import Evaluation, RunOutcome, calibration_batches, check_iterations
from bench.train import TrainSpec, compile_problem, evaluate as evaluate_accuracy, train

DENSE_TRAINING_VERSION = 2  # bump when the dense training code changes results (tests/test_config.py pins them): old caches are not reused
DEFAULT_RUNS_DIR = "runs"
DEFAULT_RECORDS_DIR = "results"


@dataclass(frozen=True)
class DataOptions:
    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    split_seed: int = 0


@dataclass
class Dense:
    model: nn.Module
    run_id: str
    source: str  # "trained" | "checkpoint"
    seed: int
    val_top1: float
    test_top1: float
    test_top5: float
    counts: Counts
    path: Path | None = None
    regularizer: dict | None = None  # a dense hook's identity (e.g. slimming's sparsity penalty)

    @property
    def weights_sha256(self) -> str:
        """What the baseline *is*: two records started from the same weights only if this agrees."""
        return weights_digest(self.model.state_dict())


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BenchError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"device {name!r} requested but CUDA is not available")
    return device


def training_device(name: str = "auto") -> torch.device:
    """The device this process trains on; under torchrun, after joining the process group (each rank
    on its own GPU, cuda:LOCAL_RANK)."""
    return distributed.setup(resolve_device(name))


def load_data(options: DataOptions, device: torch.device) -> DataBundle:
    return load_dataset(
        options.dataset,
        data_root=options.data_root,
        download=options.download,
        device=device,
        split_seed=options.split_seed,
    )


def example_inputs(spec: DatasetSpec, device: torch.device, batch_size: int = 1) -> torch.Tensor:
    """Zeros of the dataset's input shape: enough for tracing and counting, no data needed."""
    return torch.zeros(batch_size, *spec.input_shape, device=device)


def new_model(model_name: str, spec: DatasetSpec, device: torch.device) -> nn.Module:
    model = build_model(model_name, num_classes=spec.num_classes, in_channels=spec.in_channels).to(device)
    try:
        model.eval()
        with torch.no_grad():
            model(example_inputs(spec, device, 2))
    except RuntimeError as exc:
        raise BenchError(
            f"model {model_name!r} cannot run on {spec.name} inputs of shape {spec.input_shape}: {str(exc).splitlines()[0]}"
        ) from None
    return model


def compile_usable(compile: bool, device: torch.device, reporter: Reporter) -> bool:
    """Whether to train through torch.compile: asked for and workable here (else a one-line warning)."""
    problem = compile_problem(device) if compile else None
    if problem is not None:
        reporter.message(f"warning: --compile: torch.compile is unavailable ({problem}); training without it")
    return compile and problem is None


def recipe_spec(data: DataBundle) -> TrainSpec:
    recipe = data.spec.recipe
    spe = data.steps_per_epoch(recipe.batch_size)
    return TrainSpec(
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr_at=lambda step: recipe.step_lr(step // spe),
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )


# --- dense baseline --------------------------------------------------------------------------------


def dense_config(model_name: str, data: DataBundle, seed: int, regularizer: dict | None = None, compile: bool = False) -> dict:
    config = {
        "kind": "dense",
        "version": DENSE_TRAINING_VERSION,
        "model": model_name,
        "dataset": data.spec.name,
        "split_seed": data.split_seed,
        "recipe": to_jsonable(data.spec.recipe),
        "seed": seed,
    }
    if regularizer:  # only then: the shared baseline's hash (and cache) stays what it always was
        config["regularizer"] = regularizer
    if compile:  # torch.compile changes the numbers (fused kernels round differently): its own cache entry
        config["compile"] = True
    config.update(_world_identity())  # per-rank BatchNorm statistics change the numbers too
    if data.device.type == "cpu":  # CPU kernels split reductions by thread count, so the weights differ with it
        config["threads"] = torch.get_num_threads()
    return config


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """User weights: loaded with weights_only=True (no code runs), a state dict or {'state_dict'|'model': ...}."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BenchError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises many types for corrupt or non-weights files
        raise BenchError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BenchError(f"checkpoint {path} does not hold a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise BenchError(f"checkpoint {path} does not fit the model: {first}") from None


def train_dense(
    model_name: str,
    data: DataBundle,
    *,
    seed: int = 0,
    runs_dir: str | Path = DEFAULT_RUNS_DIR,
    checkpoint: str | Path | None = None,
    hook: TrainingHook | None = None,
    reporter: Reporter | None = None,
    stop: StopFlag | None = None,
    compile: bool = False,
    checkpoint_every: float = CHECKPOINT_EVERY,
) -> Dense:
    """The dense model, trained with the dataset's original recipe and cached, or the user's weights.

    The cache is shared safely: a file lock makes a second process that needs the same baseline wait
    and reuse it, and an interrupted training resumes from its last checkpoint (saved at most every
    `checkpoint_every` seconds, and when stopped). `compile` trains through torch.compile."""
    reporter = reporter or SilentReporter()
    device = data.device
    torch.manual_seed(seed)  # the init a training run starts from; counting and cache loads draw no randomness
    model = new_model(model_name, data.spec, device)
    counts = count(model, example_inputs(data.spec, device))
    if checkpoint is not None:
        distributed.from_main(lambda: load_checkpoint(model, checkpoint))  # rank 0 reads, every rank gets the weights
        model.to(device)
        distributed.broadcast_state(model)
        val_top1, _ = evaluate_accuracy(model, data, "val")
        test_top1, test_top5 = evaluate_accuracy(model, data, "test")
        sha = distributed.from_main(lambda: file_digest(Path(checkpoint)))
        digest = config_hash({"kind": "checkpoint", "sha": sha, "model": model_name})
        if hook is not None:
            reporter.message("--checkpoint given: the adapter's dense-training regularizer is not applied to your weights")
        return Dense(model, digest, "checkpoint", seed, val_top1, test_top1, test_top5, counts)

    regularizer = hook.identity() if hook is not None else None
    compile = compile_usable(compile, device, reporter)
    config = dense_config(model_name, data, seed, regularizer, compile)
    run_id = config_hash(config)
    run_dir = records.ensure_dir(Path(runs_dir) / "dense" / f"{data.spec.name}-{_slug(model_name)}-{run_id}")
    with _exclusive(run_dir / "lock", reporter, f"another process is training this dense baseline ({run_dir}); waiting"):
        cached = distributed.from_main(lambda: _load_dense(model, run_dir, device))
        if cached is not None:
            distributed.broadcast_state(model)  # rank 0 loaded the weights
            reporter.message(f"reusing cached dense {model_name} on {data.spec.name} ({run_dir})")
            return Dense(model, run_id, "trained", seed, *cached, counts, run_dir, regularizer)
        spec = recipe_spec(data)
        checkpointer = Checkpointer(run_dir, warn=reporter.message, every=checkpoint_every)
        with reporter.task(f"dense {model_name}", spec.epochs) as on_epoch:
            hooks = [hook] if hook is not None else []
            result = train(
                model, data, spec, seed=seed, hooks=hooks, on_epoch=on_epoch, checkpointer=checkpointer, stop=stop,
                compile=compile, warn=reporter.message,
            )
        if result.diverged:
            raise BenchError(f"dense training of {model_name} diverged (NaN/inf loss); nothing was cached")
        summary = {
            "config": config,
            "val_top1": result.best_val_top1,
            "test_top1": result.test_top1,
            "test_top5": result.test_top5,
            "best_epoch": result.best_epoch,
            "curve": [e.to_dict() for e in result.curve],
        }
        if distributed.is_main():
            _save_weights(model, run_dir / "model.pt")
            records.write_atomic(run_dir / "result.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
            checkpointer.clear()
    return Dense(
        model, run_id, "trained", seed, result.best_val_top1, result.test_top1, result.test_top5, counts, run_dir, regularizer
    )


def _load_dense(model: nn.Module, run_dir: Path, device: torch.device) -> tuple[float, float, float] | None:
    """(val top-1, test top-1, test top-5) of a finished cache entry, loaded into `model`; None if absent."""
    result_file, weights_file = run_dir / "result.json", run_dir / "model.pt"
    if not (result_file.exists() and weights_file.exists()):
        return None
    try:
        result = json.loads(result_file.read_text())
        model.load_state_dict(torch.load(weights_file, map_location=device, weights_only=True))
        return result["val_top1"], result["test_top1"], result["test_top5"]
    except Exception:  # an unreadable cache is retrained, never trusted
        return None


@contextlib.contextmanager
def _exclusive(lock_path: Path, reporter: Reporter, waiting_message: str):
    """A cross-process file lock (filelock), announcing when it has to wait. Under torchrun rank 0
    holds it for all ranks (they follow rank 0's decisions)."""
    if not distributed.is_main():
        yield
        return
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        reporter.message(waiting_message)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _save_weights(model: nn.Module, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    records.write_atomic(path, buffer.getvalue())


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in text)


# --- pruning ---------------------------------------------------------------------------------------


def make_adapter(name: str, hparams: object | None = None) -> Adapter:
    cls = get_adapter(name)
    return cls(hparams)


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


def random_control_adapter(method: Adapter) -> Adapter:
    random_cls = get_adapter("random")
    return random_cls(random_cls.Hparams(kind=method.kind))


# --- evaluate --------------------------------------------------------------------------------------


@dataclass
class Arm:
    """One pruned network (method or random control) retrained once per seed."""

    adapter: Adapter
    role: str  # "method" | "control": names its run folders
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
        if self.structure is None:
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
            "params_reduction_pct": _reduction(dense.params, self.counts.params),
            "flops_reduction_pct": _reduction(dense.flops, self.counts.flops),
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


def _reduction(dense: int, pruned: int) -> float:
    return round(100.0 * (1 - pruned / dense), 4) if dense else 0.0


@dataclass(frozen=True)
class EvaluateOptions:
    adapter: str
    protocol: str = "clr-90"
    model: str = "resnet20"
    target: Target | None = None
    hparams: object | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    iterations: int = 1  # prune in K equal steps, retraining under the protocol after each
    random_control: bool = True
    layout: str | None = None  # where to prune; None: the adapter's own layout (its reference code's)
    checkpoint: str | None = None
    dense_seed: int = 0
    data: DataOptions = DataOptions()
    device: str = "auto"
    threads: int | None = None  # torch threads; None: every core this process may use
    runs_dir: str = DEFAULT_RUNS_DIR
    records_dir: str = DEFAULT_RECORDS_DIR
    compile: bool = False  # train through torch.compile (changes the numbers: part of the runs' identity)
    checkpoint_every: float = CHECKPOINT_EVERY  # seconds between periodic checkpoints (0 = every epoch)


def evaluate(options: EvaluateOptions, reporter: Reporter | None = None, stop: StopFlag | None = None) -> tuple[dict, Path]:
    """Run (or resume) one evaluation and write its record. Each (arm, seed) run checkpoints every
    epoch under runs/eval/<id>/ and is skipped once finished, so rerunning a command continues it."""
    reporter = reporter or SilentReporter()
    start = time.perf_counter()
    adapter = make_adapter(options.adapter, options.hparams)
    target = options.target or Target(ratio=0.5)
    protocol = load_protocol(options.protocol)
    device = training_device(options.device)
    set_threads(options.threads)
    env = environment(device)  # the commit as the run starts, not as it ends
    options = dataclasses.replace(options, compile=compile_usable(options.compile, device, reporter))
    if options.compile:
        env["compile"] = True
    data = load_data(options.data, device)
    # Fail fast, before any training: the protocol must resolve and the target must fit the model.
    resolve(protocol, data.spec.recipe, flops_ratio=1.0 if protocol.budget == "flops" else None)
    check_iterations(adapter, protocol, options.iterations)
    fresh = new_model(options.model, data.spec, device)
    layout = check_target(fresh, options.model, adapter, target, example_inputs(data.spec, device), options.layout)
    if retraining.prunes_during_training(adapter):
        check_soft_layout(fresh, options.model, adapter, layout)
    records.ensure_dir(options.records_dir)
    dense = train_dense(
        options.model,
        data,
        seed=options.dense_seed,
        runs_dir=options.runs_dir,
        checkpoint=options.checkpoint,
        hook=adapter.dense_hook(),
        reporter=reporter,
        stop=stop,
        compile=options.compile,
        checkpoint_every=options.checkpoint_every,
    )
    eval_dir = Path(options.runs_dir) / "eval" / evaluation_id(options, adapter, target, data, dense, protocol, layout)
    dense_latency = measure_latency(dense.model, data.spec.input_shape, device) if distributed.is_main() else None

    arms = [Arm(adapter, "method")]
    if options.random_control and adapter.name != "random":
        arms.append(Arm(random_control_adapter(adapter), "control"))
    ev = Evaluation(
        model_name=options.model,
        target=target,
        data=data,
        dense_model=dense.model,
        dense_counts=dense.counts,
        protocol=protocol,
        iterations=options.iterations,
        eval_dir=eval_dir,
        reporter=reporter,
        stop=stop,
        total_runs=len(options.seeds) * len(arms),
        compile=options.compile,
        checkpoint_every=options.checkpoint_every,
        layout=layout.name,
    )
    for seed in options.seeds:
        method_steps = None
        for arm in arms:
            outcome = retraining.run(ev, arm.adapter, arm.role, seed, method_steps)
            method_steps = method_steps or outcome.steps
            arm.add(outcome, seed, ev.example_inputs(), data.spec.input_shape, options.iterations)
    record = build_record(options, adapter, target, data, dense, ev.resolved, arms, time.perf_counter() - start, env, dense_latency, layout)
    path = Path(options.records_dir) / record_filename(record)
    if distributed.is_main():
        records.write(record, path)
    return record, path


def evaluation_id(
    options: EvaluateOptions, adapter: Adapter, target: Target, data: DataBundle, dense: Dense, protocol: Protocol, layout: Layout
) -> str:
    """What determines every (arm, seed) run of an evaluation; seeds are left out so that adding
    seeds reuses the finished ones. The device type is in: a CPU run is never resumed on a GPU."""
    return config_hash(
        {
            "adapter": [adapter.name, adapter.version, to_jsonable(adapter.hparams)],
            "target": target.to_dict(),
            "model": options.model,
            "dataset": [data.spec.name, data.split_seed],
            "protocol": [protocol.name, protocol.version],
            "dense": dense.run_id,
            **_layout_identity(adapter, target, layout),
            "device": data.device.type,
            **({"iterations": options.iterations} if options.iterations > 1 else {}),
            **({"compile": True} if options.compile else {}),
            **_world_identity(),
        }
    )


def build_record(
    options: EvaluateOptions,
    adapter: Adapter,
    target: Target,
    data: DataBundle,
    dense: Dense,
    protocol: ResolvedProtocol,
    arms: list[Arm],
    seconds: float,
    env: dict,
    dense_latency: Latency | None = None,
    layout: Layout | None = None,
) -> dict:
    identity = {
        "adapter": [adapter.name, adapter.version, to_jsonable(adapter.hparams)],
        "target": target.to_dict(),
        "model": options.model,
        "dataset": [data.spec.name, data.split_seed],
        "protocol": protocol.to_dict(),
        "seeds": list(options.seeds),
        "dense": dense.run_id,
        **(_layout_identity(adapter, target, layout) if layout is not None else {}),
        "random_control": options.random_control,
        **({"iterations": options.iterations} if options.iterations > 1 else {}),
        **({"compile": True} if options.compile else {}),
        **_world_identity(),
    }
    protocol_dict = {k: v for k, v in protocol.to_dict().items() if v is not None}
    if options.iterations > 1:
        protocol_dict["iterations"] = options.iterations
    return {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": config_hash(identity),
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "prunebench_version": bench.__version__,
        "adapter": {
            "name": adapter.name,
            "version": adapter.version,
            "kind": adapter.kind,
            "allocation": adapter.allocation,
            "paper": adapter.paper,
            "module": type(adapter).__module__,
            "args": to_jsonable(adapter.hparams),
        },
        "target": {"description": target.describe(), **target.to_dict()},
        **({"layout": layout.to_dict()} if layout is not None and _layout_identity(adapter, target, layout) else {}),
        "model": options.model,
        "dataset": {
            "name": data.spec.name,
            "split_seed": data.split_seed,
            "sizes": dict(data.sizes),
            "input_shape": list(data.spec.input_shape),
            "num_classes": data.spec.num_classes,
        },
        "protocol": protocol_dict,
        "seeds": list(options.seeds),
        "dense": {
            "run_id": dense.run_id,
            "weights_sha256": dense.weights_sha256,
            "source": dense.source,
            "seed": dense.seed,
            "recipe": to_jsonable(data.spec.recipe),
            "val_top1": dense.val_top1,
            "test_top1": dense.test_top1,
            "test_top5": dense.test_top5,
            **dense.counts.to_dict(),
            **({"latency": dense_latency.to_dict()} if dense_latency is not None else {}),
            **({"regularizer": dense.regularizer} if dense.regularizer else {}),
        },
        "counting": {"tool": "fvcore", "convention": FLOP_CONVENTION, "input_shape": [1, *data.spec.input_shape]},
        "method": arms[0].summary(dense.counts, dense_latency),
        "random_control": arms[1].summary(dense.counts, dense_latency) if len(arms) > 1 else None,
        "wall_time_seconds": round(seconds, 2),
        "environment": env,
    }


def _layout_identity(adapter: Adapter, target: Target, layout: Layout) -> dict:
    """The layout decides a structured run's network, and an unstructured one's only through
    compress-rate entries; elsewhere it is left out (those ids stay as they were)."""
    return {"layout": layout.name} if adapter.kind == "structured" or target.compress_rate is not None else {}


def _world_identity() -> dict:
    """Data-parallel runs are runs of their own (per-rank BatchNorm statistics); single-process ids unchanged."""
    return {"world_size": distributed.world_size()} if distributed.world_size() > 1 else {}


def record_filename(record: dict) -> str:
    target = record["target"]
    if target["ratio"] is not None:
        tag = f"ratio{target['ratio']:g}"
    elif target["config"] is not None:
        tag = f"config-{target['config']}"
    else:
        tag = "cr-" + config_hash(target["compress_rate"], 6)
    parts = [record["dataset"]["name"], record["model"], record["adapter"]["name"], tag, record["protocol"]["name"], record["run_id"]]
    return "_".join(_slug(p)[:60] for p in parts) + ".json"  # bounded: file names have a 255-byte limit


# --- environment -------------------------------------------------------------------------------


def set_threads(threads: int | None = None) -> int:
    """`threads`, or every core this process may run on (torch's default can undercount under cgroups),
    shared among the torchrun processes of this machine."""
    if threads is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(cores // distributed.local_processes(), 1)
    torch.set_num_threads(threads)
    return threads


def environment(device: torch.device) -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
        "threads": torch.get_num_threads(),
        "commit": source_commit(),
        **_world_identity(),
    }


def source_commit() -> str | None:
    """The prunebench git commit this code runs from (with -dirty for local changes), if known: the
    checkout an editable install points at, else (`pip install .` copies no .git) the prunebench
    checkout in the working directory, which is where the README's commands run."""
    for root in (Path(bench.__file__).resolve().parent.parent, Path.cwd()):
        pyproject = root / "pyproject.toml"
        if (root / ".git").exists() and pyproject.exists() and 'name = "prunebench"' in pyproject.read_text():
            return _git_commit(root)
    return None


def _git_commit(root: Path) -> str | None:
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
