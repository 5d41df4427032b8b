"""The training loop shared by dense training and every retraining protocol.

SGD with the protocol's LR set before every optimizer step, validation after every epoch, the
best-validation weights kept, and the test split evaluated once at the end on those weights (test is
never used for selection). A NaN/inf loss stops the run and marks it diverged. Runs checkpoint after
every epoch and resume exactly.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.checkpoint import Checkpointer
from bench.data import DataBundle
from bench.hooks import TrainingHook
from bench.interrupt import Interrupted, StopFlag

EVAL_BATCH_SIZE = 512


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
def evaluate(model: nn.Module, data: DataBundle, split: str) -> tuple[float, float]:
    """Top-1 and top-5 accuracy in percent."""
    model.eval()
    correct1 = correct5 = total = 0
    for inputs, labels in data.eval_batches(split, EVAL_BATCH_SIZE):
        logits = model(inputs)
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits = top == labels[:, None]
        correct1 += int(hits[:, 0].sum())
        correct5 += int(hits.any(1).sum())
        total += labels.numel()
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
) -> TrainResult:
    """Train `model` in place; on return it holds the best-validation weights.

    `hooks` are called after every backward pass, optimizer step and epoch (pruners acting during
    training, fixed masks). With a `checkpointer`, the state is saved after every epoch (and after the current step when
    `stop` is raised), and a run that finds a checkpoint continues from it. The data order is a
    function of (seed, epoch) and the RNG state is restored, so a resumed run reproduces an
    uninterrupted one exactly.
    """
    torch.manual_seed(seed)  # dropout and any other stochastic layers
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=spec.lr_at(0),
        momentum=spec.momentum,
        nesterov=spec.nesterov and spec.momentum > 0,
        weight_decay=spec.weight_decay,
    )
    run = _RunState()
    saved = checkpointer.load() if checkpointer is not None else None
    if saved is not None:
        run.restore(saved, model, optimizer)
        for log in run.curve:
            if on_epoch is not None:
                on_epoch(log)
    else:
        for hook in hooks:
            hook.before_training(model)
    start = time.perf_counter() - run.seconds

    def save() -> None:
        if checkpointer is not None:
            run.seconds = time.perf_counter() - start
            checkpointer.save(run.snapshot(model, optimizer))

    for epoch in range(run.epoch, spec.epochs):
        model.train()
        lr = spec.lr_at(run.step)
        for index, (inputs, labels) in enumerate(data.train_batches(spec.batch_size, seed=seed, epoch=epoch)):
            if index < run.batch:
                continue  # already trained before the interruption; iterating keeps the data RNG in step
            lr = spec.lr_at(run.step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = F.cross_entropy(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for hook in hooks:
                hook.after_backward(model)
            optimizer.step()
            for hook in hooks:
                hook.after_step(model)
            run.loss_sum += loss.detach().float().cpu()
            run.batch += 1
            run.step += 1
            if stop is not None and stop.requested:
                save()
                raise Interrupted(f"stopped by {stop.signal_name or 'request'} at epoch {epoch}, step {run.step}")
        train_loss = float(run.loss_sum) / max(run.batch, 1)
        if not math.isfinite(train_loss):
            run.diverged = True
            break
        for hook in hooks:
            hook.after_epoch(model, epoch, last=epoch == spec.epochs - 1)
        val_top1, _ = evaluate(model, data, "val")
        log = EpochLog(epoch, lr, train_loss, val_top1)
        run.curve.append(log)
        if val_top1 >= run.best_val:  # ties go to the later epoch: small val sets saturate, and later = lower LR
            run.best_val, run.best_epoch = val_top1, epoch
            run.best_state = copy.deepcopy(model.state_dict())
        run.epoch, run.batch, run.loss_sum = epoch + 1, 0, torch.zeros(())
        save()
        if on_epoch is not None:
            on_epoch(log)
    if run.best_state is not None:
        model.load_state_dict(run.best_state)
    test_top1, test_top5 = evaluate(model, data, "test") if not run.diverged else (float("nan"), float("nan"))
    return TrainResult(
        run.best_epoch, run.best_val, test_top1, test_top5, run.curve, run.diverged, time.perf_counter() - start
    )


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
        return {
            "version": 1,
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step,
            "loss_sum": self.loss_sum.clone(),
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "curve": [log.to_dict() for log in self.curve],
            "seconds": self.seconds,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def restore(self, state: dict, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        if state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        self.loss_sum = state["loss_sum"]
        self.best_val, self.best_epoch, self.best_state = state["best_val"], state["best_epoch"], state["best_state"]
        self.curve = [EpochLog(**log) for log in state["curve"]]
        self.seconds = state["seconds"]
