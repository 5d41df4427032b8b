"""The training loop's extension point, shared by the loop (bench/core/train.py) and the pruning
interface (adapters return hooks); it lives apart so that neither imports the other."""

from __future__ import annotations

import torch.nn as nn


class TrainingHook:
    """Callbacks of the training loop. A hook keeps no state of its own beyond its settings: what it
    acts on must be derivable from the model, so that a run resumed from a checkpoint is exact."""

    def identity(self) -> dict:
        """What distinguishes the training this hook changes (keys caches of hooked dense training)."""
        return {}

    def before_training(self, model: nn.Module) -> None:
        """Once, before the first step of a run (not again when a run resumes from a checkpoint)."""

    def after_backward(self, model: nn.Module) -> None:
        """Gradients are computed, the optimizer has not stepped (e.g. add a penalty's gradient)."""

    def after_step(self, model: nn.Module) -> None:
        """After every optimizer step (e.g. re-apply a fixed mask)."""

    def after_epoch(self, model: nn.Module, epoch: int, last: bool) -> None:
        """After an epoch's last step, before validation and the checkpoint (e.g. soft pruning)."""
