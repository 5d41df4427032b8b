"""Frozen, hashable configuration: the original training recipe and the canonical-JSON run hash.

A run directory is named by `config_hash` of the fully resolved configuration, defaults included,
so changing any default produces a new directory instead of silently relabelling old results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable


@dataclass(frozen=True)
class Recipe:
    """A dataset's original (dense) training recipe; protocols are resolved against it.

    The LR schedule is step-wise: `lr` for the first part, multiplied by `gamma` at each milestone,
    given as fractions of `epochs` (CIFAR: 0.1, x0.1 at 50% and 75% of 160 epochs).
    """

    epochs: int
    lr: float
    milestones: tuple[float, ...]
    gamma: float
    batch_size: int
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    # The original-training length that protocol budgets are stated against. None: this recipe's own
    # epochs (CIFAR: 160, ImageNet: 90). A shorter stand-in recipe (digits: 30 epochs for CIFAR's 160)
    # scales every budget to the same fraction of the original training, so `clr-40` means a quarter
    # of it everywhere (Le & Hua's budgets are 40-152 of 160 epochs).
    budget_epochs: int | None = None

    def budget(self, epochs: int) -> int:
        """A protocol budget of `epochs` (of `budget_epochs`) in this recipe's epochs: at least 1,
        halves rounded up."""
        if self.budget_epochs is None:
            return epochs
        return max(1, math.floor(epochs * self.epochs / self.budget_epochs + 0.5))

    @property
    def lr_max(self) -> float:
        return self.lr

    @property
    def lr_min(self) -> float:
        """The smallest LR of the original schedule: the one fine-tuning keeps."""
        return self.lr * self.gamma ** len(self.milestones)

    def milestone_epochs(self, epochs: int | None = None) -> tuple[int, ...]:
        total = self.epochs if epochs is None else epochs
        return tuple(int(round(f * total)) for f in self.milestones)

    def step_lr(self, epoch: float, epochs: int | None = None) -> float:
        """LR of the step schedule at (fractional) `epoch` of a run stretched to `epochs`."""
        drops = sum(1 for m in self.milestone_epochs(epochs) if math.floor(epoch) >= m)
        return self.lr * self.gamma**drops


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples and mappings as plain JSON types (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj


def canonical_json(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(obj: Any, length: int = 12) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def sequence_hash(values: Iterable[float | int | str], length: int = 12) -> str:
    """`config_hash(list(values))`, without holding the list: the same canonical JSON, fed to the hash
    one element at a time (an LR schedule of millions of steps hashes in constant memory)."""
    h = hashlib.sha256(b"[")
    for i, value in enumerate(values):
        h.update((b"," if i else b"") + json.dumps(value, allow_nan=False).encode())
    h.update(b"]")
    return h.hexdigest()[:length]


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (checkpoints can be large)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
