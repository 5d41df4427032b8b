"""Where and how a specified evaluation runs (folders, data, the device index, checkpoint cadence): the
half of a run that is not its identity (`RunSpec`), so none of it changes the numbers."""

from __future__ import annotations

from dataclasses import dataclass

from bench import defaults
from bench.core.checkpoint import CHECKPOINT_EVERY


@dataclass(frozen=True)
class Execution:
    """Where and how a specified evaluation runs: none of this changes its numbers."""

    runs_dir: str = defaults.RUNS_DIR  # dense baselines and retraining runs, shared by every evaluation
    records_dir: str = defaults.RECORDS_DIR  # records, in the submissions layout
    data_root: str | None = None
    download: bool = False
    device: str = "auto"  # its type must be the spec's; the index is free (cuda:1)
    checkpoint_every: float = CHECKPOINT_EVERY  # seconds between periodic checkpoints (0 = every epoch)
    gpu_memory_fraction: float | None = None  # a share of the GPU, when several runs use one (sweep --jobs-per-device)
