"""An arm (bench/evaluation/arms.py): one pruned network retrained once per seed, and its summary."""

from __future__ import annotations


def test_diverged_runs_are_never_summarized_as_results():
    from bench.core.counting import Counts
    from bench.core.train import TrainResult
    from bench.evaluation.arms import Arm
    from bench.evaluation.runs import run_record as _run_record
    from bench.pruning import get_adapter
    from bench.pruning.structure import Structure

    arm = Arm(get_adapter("l1-norm")(), "method")
    arm.structure, arm.counts = Structure("structured", {"conv1": (8, 16)}), Counts(10, 10)
    arm.runs = [_run_record(0, TrainResult(2, 90.0, 91.0, 99.0)), _run_record(1, TrainResult(-1, -1.0, float("nan"), float("nan"), diverged=True))]
    summary = arm.summary(Counts(20, 20))
    assert summary["diverged"] and summary["top1_mean"] is None and summary["runs"][1]["top1"] is None
