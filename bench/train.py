"""The training loop shared by dense training and every retraining protocol.

SGD with the protocol's LR set before every optimizer step, validation after every epoch, the
best-validation weights kept, and the test split evaluated once at the end on those weights (test is
never used for selection). A NaN/inf loss stops the run and marks it diverged.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.data import DataBundle

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
    after_step: Callable[[], None] | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainResult:
    """Train `model` in place; on return it holds the best-validation weights."""
    start = time.perf_counter()
    torch.manual_seed(seed)  # dropout and any other stochastic layers
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=spec.lr_at(0),
        momentum=spec.momentum,
        nesterov=spec.nesterov and spec.momentum > 0,
        weight_decay=spec.weight_decay,
    )
    best_state, best_val, best_epoch = None, -1.0, -1
    curve: list[EpochLog] = []
    step, diverged = 0, False
    for epoch in range(spec.epochs):
        model.train()
        loss_sum = torch.zeros(())
        batches = 0
        lr = spec.lr_at(step)
        for inputs, labels in data.train_batches(spec.batch_size, seed=seed, epoch=epoch):
            lr = spec.lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = F.cross_entropy(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
            loss_sum += loss.detach().float().cpu()
            batches += 1
            step += 1
        train_loss = float(loss_sum) / max(batches, 1)
        if not math.isfinite(train_loss):
            diverged = True
            break
        val_top1, _ = evaluate(model, data, "val")
        log = EpochLog(epoch, lr, train_loss, val_top1)
        curve.append(log)
        if val_top1 >= best_val:  # ties go to the later epoch: small val sets saturate, and later = lower LR
            best_val, best_epoch = val_top1, epoch
            best_state = copy.deepcopy(model.state_dict())
        if on_epoch is not None:
            on_epoch(log)
    if best_state is not None:
        model.load_state_dict(best_state)
    test_top1, test_top5 = evaluate(model, data, "test") if not diverged else (float("nan"), float("nan"))
    return TrainResult(best_epoch, best_val, test_top1, test_top5, curve, diverged, time.perf_counter() - start)
