"""The training loop shared by dense training and every retraining protocol.

SGD with the protocol's LR set before every optimizer step, validation after every epoch, the
best-validation weights kept, and the test split evaluated once at the end on those weights (test is
never used for selection). A NaN/inf loss stops the run and marks it diverged. Runs checkpoint (after
the first epoch, then at most every `Checkpointer.every` seconds, after the last epoch and when
stopped) and resume exactly.

Devices: on CPU the loop is fp32 eager PyTorch (the thread count is set by the caller); on CUDA it
turns on cuDNN autotuning and runs the training forward under bf16 autocast; evaluation stays fp32.
The model and its input batches are kept in the run's memory format while it trains (`MEMORY_FORMATS`:
channels_last is 13-32% faster per CPU training step than the default layout for the CIFAR ResNets,
and faster on tensor cores; it rounds differently, so the format is part of a run's identity; callers
that name none get their device's earlier layout). `compile=True` trains through `torch.compile`
(falling back to eager, with a one-line warning, where it cannot work); the weights are always the
underlying module's.

Under torchrun (bench/infra/distributed.py) the loop is data-parallel: each rank trains on its slice of
every global batch through DistributedDataParallel, evaluation is sharded and its counts summed, rank
0's BatchNorm statistics are broadcast before every evaluation, a stop request on any rank stops all
at the same step, and only rank 0 reads and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.core.checkpoint import Checkpointer
from bench.core.hooks import TrainingHook
from bench.core.dataset import DataBundle
from bench.infra import distributed
from bench.infra.interrupt import Interrupted, StopFlag

EVAL_BATCH_SIZE = {"cuda": 512, "cpu": 128}  # per device type; CPU kernels run faster per image on batches that fit in cache


def eval_batch_size(device: torch.device) -> int:
    return EVAL_BATCH_SIZE.get(device.type, EVAL_BATCH_SIZE["cpu"])


MEMORY_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
# What each device type trained in before the format was a choice (records without one in their spec).
LEGACY_MEMORY_FORMAT = {"cpu": "contiguous", "cuda": "channels_last"}


def default_memory_format(device: torch.device | str) -> str:
    """The format a device trained in before it was a choice (callers that do not name one)."""
    kind = device if isinstance(device, str) else device.type
    return LEGACY_MEMORY_FORMAT.get(kind, "contiguous")


def _layout(inputs: torch.Tensor, memory_format: str) -> torch.Tensor:
    """An image batch in the run's memory format (other inputs as they are)."""
    if memory_format == "channels_last" and inputs.dim() == 4:
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs


PRECISIONS = ("bf16", "fp32")  # of the training forward


def default_precision(device: torch.device) -> str:
    """bf16 autocast on CUDA (tensor cores; bf16 has fp32's range: no loss scaling), fp32 on CPU."""
    return "bf16" if device.type == "cuda" else "fp32"


def _precision(device: torch.device, precision: str | None = None) -> Callable[[], contextlib.AbstractContextManager]:
    """The training forward's context: autocast to bf16, or nothing (fp32). Runs always use their
    device's default (`default_precision`); `bench perf --only epoch` times the other one too."""
    if (precision or default_precision(device)) == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


@dataclass(frozen=True)
class TrainSpec:
    """How to train: epochs, batch size, SGD settings and the LR of every optimizer step."""

    epochs: int
    batch_size: int
    lr_at: Callable[[int], float]
    momentum: float
    nesterov: bool
    weight_decay: float


@dataclass(frozen=True)
class EpochLog:
    epoch: int
    lr: float  # LR of the epoch's last step
    train_loss: float
    val_top1: float

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "lr": self.lr, "train_loss": self.train_loss, "val_top1": self.val_top1}


@dataclass
class TrainResult:
    best_epoch: int
    best_val_top1: float
    test_top1: float
    test_top5: float
    curve: list[EpochLog] = field(default_factory=list)
    diverged: bool = False
    seconds: float = 0.0


@torch.inference_mode()
def evaluate(model: nn.Module, data: DataBundle, split: str, memory_format: str | None = None) -> tuple[float, float]:
    """Top-1 and top-5 accuracy in percent (counted on the device: one sync per split, not per batch);
    inputs in `memory_format` (default: the device's, `default_memory_format`)."""
    memory_format = memory_format or default_memory_format(data.device)
    model.eval()
    counts = torch.zeros(3, dtype=torch.int64, device=data.device)  # top-1 hits, top-5 hits, samples
    for inputs, labels in data.eval_batches(split, eval_batch_size(data.device), shard=distributed.shard()):
        logits = model(_layout(inputs, memory_format))
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits = top == labels[:, None]
        counts[0] += hits[:, 0].sum()
        counts[1] += hits.any(1).sum()
        counts[2] += labels.numel()  # a Python scalar: no host-to-device copy per batch
    correct1, correct5, total = distributed.all_sum(counts).tolist()
    return 100.0 * correct1 / max(total, 1), 100.0 * correct5 / max(total, 1)


def train(
    model: nn.Module,
    data: DataBundle,
    spec: TrainSpec,
    *,
    seed: int,
    hooks: Sequence[TrainingHook] = (),
    on_epoch: Callable[[EpochLog], None] | None = None,
    checkpointer: Checkpointer | None = None,
    stop: StopFlag | None = None,
    compile: bool = False,
    memory_format: str | None = None,
    precision: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train `model` in place; on return it holds the best-validation weights.

    `hooks` are called after every backward pass, optimizer step and epoch (pruners acting during
    training, fixed masks); they always get `model` itself, never a compiled wrapper. With a
    `checkpointer`, the state is saved after an epoch when `checkpointer.due()`, after the last epoch,
    and after the current step when `stop` is raised; a run that finds a checkpoint continues from it.
    The data order is a function of (seed, epoch) and the RNG state is restored, so a resumed run
    reproduces an uninterrupted one exactly. `memory_format` (a key of `MEMORY_FORMATS`; default: the
    device's, `default_memory_format`) is the layout of the model and its batches while it trains, and
    `precision` (bf16 or fp32; default: the device's, `default_precision`) that of its forward.
    `warn` gets one-line notes (default: stderr).
    """
    memory_format = memory_format or default_memory_format(data.device)
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f"unknown memory format {memory_format!r} (known: {', '.join(MEMORY_FORMATS)})")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
    with _device_setup(model, data.device, memory_format):
        return _train(
            model, data, spec, seed, hooks, on_epoch, checkpointer, stop, compile, memory_format,
            _precision(data.device, precision), warn or _to_stderr,
        )


@contextlib.contextmanager
def _device_setup(model: nn.Module, device: torch.device, memory_format: str):
    """cuDNN autotuning on CUDA, and the model in `memory_format` while it trains (back to the default
    layout afterwards, which is what pruning and saving expect)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest kernels
    if memory_format == "contiguous":
        yield
        return
    model.to(memory_format=MEMORY_FORMATS[memory_format])
    try:
        yield
    finally:
        model.to(memory_format=torch.contiguous_format)


def _train(model, data, spec, seed, hooks, on_epoch, checkpointer, stop, compile, memory_format, precision, warn) -> TrainResult:
    device = data.device
    world = distributed.world_size()
    distributed.check_divisible(data.sizes["train"], spec.batch_size)
    torch.manual_seed(distributed.rank_seed(seed))  # dropout and any other stochastic layers
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=spec.lr_at(0),
        momentum=spec.momentum,
        nesterov=spec.nesterov and spec.momentum > 0,
        weight_decay=spec.weight_decay,
        foreach=True,  # one multi-tensor update instead of a Python loop per parameter: bitwise the same, 4% faster per CPU step
    )
    run = _RunState()
    saved = distributed.from_main(checkpointer.load) if checkpointer is not None else None
    if saved is not None:
        run.restore(saved, model, optimizer)
        for log in run.curve:
            if on_epoch is not None:
                on_epoch(log)
    else:
        for hook in hooks:
            hook.before_training(model)
    run.loss_sum = run.loss_sum.to(device)
    trained = distributed.wrap(model, device)  # DistributedDataParallel under torchrun, else the model
    forward = compiled(trained, device, warn) if compile else trained
    start = time.perf_counter() - run.seconds

    def save() -> None:  # on every rank together: the snapshot gathers each rank's RNG state
        if checkpointer is not None:
            run.seconds = time.perf_counter() - start
            snapshot = run.snapshot(model, optimizer)
            if distributed.is_main():
                checkpointer.save(snapshot)

    for epoch in range(run.epoch, spec.epochs):
        model.train()
        lr = spec.lr_at(run.step)
        for index, (inputs, labels) in enumerate(data.train_batches(spec.batch_size, seed=seed, epoch=epoch, shard=distributed.shard())):
            if index < run.batch:
                continue  # already trained before the interruption; iterating keeps the data RNG in step
            lr = spec.lr_at(run.step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with precision():
                logits = forward(_layout(inputs, memory_format))
                loss = _loss(logits, labels, world, min(spec.batch_size, data.sizes["train"] - index * spec.batch_size))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for hook in hooks:
                hook.after_backward(model)
            optimizer.step()
            for hook in hooks:
                hook.after_step(model)
            run.loss_sum += loss.detach().float()  # stays on the device: no host sync per step
            run.batch += 1
            run.step += 1
            if stop is not None and distributed.any_rank(stop.requested, device):
                save()
                raise Interrupted(f"stopped by {stop.signal_name or 'request'} at epoch {epoch}, step {run.step}")
        train_loss = float(distributed.all_sum(run.loss_sum.clone())) / world / max(run.batch, 1)
        if not math.isfinite(train_loss):
            run.diverged = True
            break
        for hook in hooks:
            hook.after_epoch(model, epoch, last=epoch == spec.epochs - 1)
        distributed.broadcast_state(model, buffers_only=True)  # one set of BatchNorm statistics: rank 0's
        val_top1, _ = evaluate(model, data, "val", memory_format)
        log = EpochLog(epoch, lr, train_loss, val_top1)
        run.curve.append(log)
        if val_top1 >= run.best_val:  # ties go to the later epoch: small val sets saturate, and later = lower LR
            run.best_val, run.best_epoch = val_top1, epoch
            run.best_state = _copy_state(model, run.best_state)
        run.epoch, run.batch, run.loss_sum = epoch + 1, 0, torch.zeros((), device=device)
        if checkpointer is not None and (epoch == spec.epochs - 1 or distributed.from_main(checkpointer.due)):
            save()
        if on_epoch is not None:
            on_epoch(log)
    if run.best_state is not None:
        model.load_state_dict(run.best_state)
    test_top1, test_top5 = evaluate(model, data, "test", memory_format) if not run.diverged else (float("nan"), float("nan"))
    return TrainResult(
        run.best_epoch, run.best_val, test_top1, test_top5, run.curve, run.diverged, time.perf_counter() - start
    )


def _loss(logits: torch.Tensor, labels: torch.Tensor, world: int, global_batch: int) -> torch.Tensor:
    """The mean cross-entropy; on one of `world` ranks, its shard's sum scaled so that DDP's average
    of the ranks' gradients is the global batch's mean-loss gradient (shards may differ in size)."""
    if world == 1:
        return F.cross_entropy(logits, labels)
    return F.cross_entropy(logits, labels, reduction="sum") * (world / global_batch)


def _copy_state(model: nn.Module, into: dict | None) -> dict:
    """The model's weights copied into `into` (the previous best, reused as buffers: no allocation per
    improvement); a fresh deep copy the first time, or when `into` does not match (e.g. restored from a
    checkpoint onto another device)."""
    state = model.state_dict()
    if into is None or into.keys() != state.keys() or any(
        into[k].shape != v.shape or into[k].dtype != v.dtype or into[k].device != v.device for k, v in state.items()
    ):
        return copy.deepcopy(state)
    with torch.no_grad():
        for k, v in state.items():
            into[k].copy_(v)
    return into


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def compile_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot work on `device` here, or None if it should."""
    try:
        import torch._dynamo
    except Exception as exc:  # broken or stripped torch builds
        return f"torch._dynamo cannot be imported ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    if not torch._dynamo.is_dynamo_supported():
        return f"torch.compile does not support Python {platform.python_version()} on {sys.platform}"
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            return "Triton is not installed"
    elif not any(shutil.which(cxx) for cxx in (os.environ.get("CXX"), "g++", "c++", "clang++") if cxx):
        return "no C++ compiler found (torch.compile's CPU backend needs one)"
    return None


def compiled(model: nn.Module, device: torch.device, warn: Callable[[str], None]) -> Callable[[torch.Tensor], torch.Tensor]:
    """`torch.compile(model)` as the training forward, or `model` itself with a one-line warning."""
    problem = compile_problem(device)
    if problem is None:
        try:
            return _CompiledForward(model, torch.compile(model), warn)
        except Exception as exc:
            problem = _first_line(exc)
    warn(f"warning: --compile: torch.compile is unavailable ({problem}); training without it")
    return model


class _CompiledForward:
    """The compiled forward; if the first call fails to compile, the module's buffers (BatchNorm
    statistics) are put back and training continues eagerly, with a one-line warning."""

    def __init__(self, model: nn.Module, compiled_model: Callable, warn: Callable[[str], None]):
        self.model, self.compiled, self.warn = model, compiled_model, warn
        self.proven = False

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.proven:
            return self.compiled(inputs)
        buffers = [b.detach().clone() for b in self.model.buffers()]
        try:
            out = self.compiled(inputs)
        except Exception as exc:
            with torch.no_grad():
                for buffer, saved in zip(self.model.buffers(), buffers):
                    buffer.copy_(saved)
            self.warn(f"warning: --compile: torch.compile failed ({_first_line(exc)}); training without it")
            self.compiled = self.model
            out = self.model(inputs)
        self.proven = True
        return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class _RunState:
    """Everything needed to continue a run at an exact optimizer step."""

    epoch: int = 0
    batch: int = 0  # batches of `epoch` already trained
    step: int = 0
    loss_sum: torch.Tensor = field(default_factory=lambda: torch.zeros(()))
    best_val: float = -1.0
    best_epoch: int = -1
    best_state: dict | None = None
    curve: list[EpochLog] = field(default_factory=list)
    diverged: bool = False
    seconds: float = 0.0

    def snapshot(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
        """What rank 0 saves (every rank calls it: the RNG states and the loss so far are gathered)."""
        world = distributed.world_size()
        loss_sum = distributed.all_sum(self.loss_sum.clone()) / world if world > 1 else self.loss_sum.clone()
        return {
            "version": 1,
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step,
            "loss_sum": loss_sum,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "curve": [log.to_dict() for log in self.curve],
            "seconds": self.seconds,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            **({"rank_rngs": distributed.gather(torch.get_rng_state())} if world > 1 else {}),
        }

    def restore(self, state: dict, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rank_rngs"][distributed.rank()] if "rank_rngs" in state else state["rng"])
        if state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        self.loss_sum = state["loss_sum"]
        self.best_val, self.best_epoch, self.best_state = state["best_val"], state["best_epoch"], state["best_state"]
        self.curve = [EpochLog(**log) for log in state["curve"]]
        self.seconds = state["seconds"]
