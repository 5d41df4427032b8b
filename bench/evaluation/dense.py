"""The dense baseline: trained with the dataset's original recipe and cached by the hash of what
determines it, or the user's checkpoint. Every record carries the SHA-256 of the weights it started from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from bench import defaults
from bench.core.checkpoint import CHECKPOINT_EVERY, Checkpointer, weights_digest
from bench.core.config import config_hash, file_digest, to_jsonable
from bench.core.counting import Counts, count
from bench.core.hooks import TrainingHook
from bench.core.train import TrainSpec, train
from bench.core.train import evaluate as evaluate_accuracy
from bench.data import DataBundle
from bench.errors import BenchError
from bench.evaluation.loading import (
    example_inputs,
    load_checkpoint,
    new_model,
    save_weights,
)
from bench.evaluation.spec import DENSE_TRAINING_VERSION, slug
from bench.infra import distributed
from bench.infra import files
from bench.infra.devices import default_memory_format
from bench.infra.environment import compile_usable, world_identity
from bench.infra.interrupt import StopFlag
from bench.infra.locks import exclusive
from bench.infra.progress import Reporter, SilentReporter

DEFAULT_RUNS_DIR = defaults.RUNS_DIR


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


def dense_config(
    model_name: str, data: DataBundle, seed: int, regularizer: dict | None = None, compile: bool = False,
    memory_format: str = defaults.MEMORY_FORMAT, precision: str | None = None,
) -> dict:
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
    if memory_format != default_memory_format(data.device):  # named only then: earlier baselines keep their ids
        config["memory_format"] = memory_format
    if precision is not None:  # named only when chosen: baselines in the device's precision keep their ids
        config["precision"] = precision
    config.update(world_identity())  # per-rank BatchNorm statistics change the numbers too
    if data.device.type == "cpu":  # CPU kernels split reductions by thread count, so the weights differ with it
        config["threads"] = torch.get_num_threads()
    return config


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
    memory_format: str = defaults.MEMORY_FORMAT,
    precision: str | None = None,
    checkpoint_every: float = CHECKPOINT_EVERY,
) -> Dense:
    """The dense model, trained with the dataset's original recipe and cached, or the user's weights.

    The cache is shared safely: a file lock makes a second process that needs the same baseline wait
    and reuse it, and an interrupted training resumes from its last checkpoint (saved at most every
    `checkpoint_every` seconds, and when stopped). `compile` trains through torch.compile, in
    `memory_format`."""
    reporter = reporter or SilentReporter()
    device = data.device
    torch.manual_seed(seed)  # the init a training run starts from; counting and cache loads draw no randomness
    model = new_model(model_name, data.spec, device)
    counts = count(model, example_inputs(data.spec, device))
    if checkpoint is not None:
        distributed.from_main(lambda: load_checkpoint(model, checkpoint))  # rank 0 reads, every rank gets the weights
        model.to(device)
        distributed.broadcast_state(model)
        val_top1, _ = evaluate_accuracy(model, data, "val", memory_format)
        test_top1, test_top5 = evaluate_accuracy(model, data, "test", memory_format)
        sha = distributed.from_main(lambda: file_digest(Path(checkpoint)))
        digest = config_hash({"kind": "checkpoint", "sha": sha, "model": model_name})
        if hook is not None:
            reporter.message("--checkpoint given: the adapter's dense-training regularizer is not applied to your weights")
        return Dense(model, digest, "checkpoint", seed, val_top1, test_top1, test_top5, counts)

    regularizer = hook.identity() if hook is not None else None
    compile = compile_usable(compile, device, reporter)
    config = dense_config(model_name, data, seed, regularizer, compile, memory_format, precision)
    run_id = config_hash(config)
    run_dir = files.ensure_dir(Path(runs_dir) / "dense" / _folder_name(data.spec.name, model_name, run_id))
    with exclusive(run_dir / "lock", reporter, f"another process is training this dense baseline ({run_dir}); waiting"):
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
                compile=compile, memory_format=memory_format, precision=precision, warn=reporter.message,
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
            save_weights(model, run_dir / "model.pt")
            files.write_atomic(run_dir / "result.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
            checkpointer.clear()
    return Dense(
        model, run_id, "trained", seed, result.best_val_top1, result.test_top1, result.test_top5, counts, run_dir, regularizer
    )


def _folder_name(dataset: str, model_name: str, run_id: str) -> str:
    """A cached dense baseline's folder under runs/dense/ (`run_id` may be a glob's `*`)."""
    return f"{dataset}-{slug(model_name)}-{run_id}"


def find_cached(runs_dir: str | Path, model_name: str, dataset: str, seed: int = 0, regularizer: dict | None = None) -> Path | None:
    """The weights of the newest finished dense baseline cached under `runs_dir` for this model, dataset,
    seed and regularizer (whatever thread count or memory format trained it), or None."""
    found = []
    for result_file in Path(runs_dir).glob(f"dense/{_folder_name(dataset, model_name, '*')}/result.json"):
        try:
            config = json.loads(result_file.read_text())["config"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        weights = result_file.with_name("model.pt")
        if (config.get("model"), config.get("dataset"), config.get("seed"), config.get("regularizer")) == (
                model_name, dataset, seed, regularizer) and weights.is_file():
            found.append((result_file.stat().st_mtime, weights))
    return max(found)[1] if found else None


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
