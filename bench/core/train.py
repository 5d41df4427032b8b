"""The training loop shared by dense training and every retraining protocol.

SGD with the protocol's LR set before every optimizer step, validation after every epoch, the
best-validation weights kept, and the test split evaluated once at the end on those weights (test is
never used for selection). A NaN/inf loss stops the run and marks it diverged. Runs checkpoint (after
the first epoch, then at most every `Checkpointer.every` seconds, after the last epoch and when
stopped) and resume exactly.

Devices (bench/infra/devices.py): the model and its input batches are kept in the run's memory format
while it trains, the forward runs in the device's precision (bf16 autocast on CUDA), and
`compile=True` trains through `torch.compile` (falling back to eager, with a one-line warning, where it
cannot work); the weights are always the underlying module's.

Under torchrun (bench/infra/distributed.py) the loop is data-parallel: each rank trains on its slice of
every global batch through DistributedDataParallel, evaluation is sharded and its counts summed, rank
0's BatchNorm statistics are broadcast before every evaluation, a stop request on any rank stops all
at the same step, and only rank 0 reads and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.core.checkpoint import Checkpointer
from bench.core.dataset import DataBundle
from bench.core.hooks import TrainingHook
from bench.infra import distributed
from bench.infra.devices import (
    MEMORY_FORMATS,
    PRECISIONS,
    batch_layout,
    compiled,
    default_memory_format,
    device_setup,
    eval_batch_size,
    forward_precision,
)
from bench.infra.interrupt import Interrupted, StopFlag
from bench.infra.progress import EpochLog

@dataclass(frozen=True)
class TrainSpec:
    """How to train: epochs, batch size, SGD settings and the LR of every optimizer step."""

    epochs: int
    batch_size: int
    lr_at: Callable[[int], float]
    momentum: float
    nesterov: bool
    weight_decay: float


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
        logits = model(batch_layout(inputs, memory_format))
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
    # The loop checks `stop` after every step (and saves): a signal while it runs waits for that check.
    with device_setup(model, data.device, memory_format), (stop.watching() if stop else contextlib.nullcontext()):
        return _train(
            model, data, spec, seed, hooks, on_epoch, checkpointer, stop, compile, memory_format,
            forward_precision(data.device, precision), warn or _to_stderr,
        )


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
                logits = forward(batch_layout(inputs, memory_format))
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
