"""Checkpoints, exact resume, interrupts and divergence in the training loop (in-process)."""

from __future__ import annotations

import pytest
import torch

from bench.core.checkpoint import CURRENT, PREVIOUS, Checkpointer
from bench.core.hooks import TrainingHook
from bench.core.train import TrainSpec, train
from bench.data import load_dataset
from bench.infra.interrupt import Interrupted, StopFlag
from bench.models import build_model


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def spec(epochs=2, lr=0.05):
    return TrainSpec(epochs=epochs, batch_size=128, lr_at=lambda step: lr, momentum=0.9, nesterov=True, weight_decay=1e-4)


def fresh_model():
    torch.manual_seed(0)
    return build_model("resnet20", num_classes=10, in_channels=1)


def test_checkpoints_are_checksummed_and_fall_back_to_the_previous_one(tmp_path):
    warnings = []
    ckpt = Checkpointer(tmp_path, warn=warnings.append)
    assert ckpt.load() is None
    ckpt.save({"epoch": 1, "w": torch.ones(3)})
    ckpt.save({"epoch": 2, "w": torch.ones(3) * 2})
    assert ckpt.load()["epoch"] == 2
    data = (tmp_path / CURRENT).read_bytes()
    (tmp_path / CURRENT).write_bytes(data[: len(data) // 2])  # truncated by a crash
    assert ckpt.load()["epoch"] == 1 and "corrupt" in warnings[0]
    (tmp_path / PREVIOUS).write_bytes(b"0" * 64 + b"\n" + b"garbage")
    assert ckpt.load() is None
    ckpt.clear()
    assert not list(tmp_path.iterdir())


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("stop_after_step", [1, 11, 14])  # mid-epoch, last step of epoch 0 (11 steps), epoch 1
def test_interrupt_then_resume_gives_bitwise_the_uninterrupted_run(tmp_path, digits, stop_after_step):
    reference_model = fresh_model()
    reference = train(reference_model, digits, spec(), seed=3)

    flag = StopFlag()
    steps = []

    class CountSteps(TrainingHook):
        def after_step(self, model):
            steps.append(1)
            if len(steps) == stop_after_step:
                flag.requested = True

    ckpt = Checkpointer(tmp_path)
    with pytest.raises(Interrupted):
        train(fresh_model(), digits, spec(), seed=3, hooks=[CountSteps()], checkpointer=ckpt, stop=flag)
    assert (tmp_path / CURRENT).exists()

    resumed_model = fresh_model()
    torch.manual_seed(12345)  # a different global RNG state: the checkpoint must restore it
    resumed = train(resumed_model, digits, spec(), seed=3, checkpointer=ckpt)
    assert resumed.curve == reference.curve
    assert (resumed.test_top1, resumed.best_epoch) == (reference.test_top1, reference.best_epoch)
    for (name, a), b in zip(_state(reference_model).items(), _state(resumed_model).values()):
        assert torch.equal(a, b), name


def test_a_finished_checkpoint_is_not_retrained(tmp_path, digits):
    ckpt = Checkpointer(tmp_path)
    first = train(fresh_model(), digits, spec(epochs=1), seed=0, checkpointer=ckpt)
    calls = []

    class Record(TrainingHook):
        def after_step(self, model):
            calls.append(1)

    again = train(fresh_model(), digits, spec(epochs=1), seed=0, checkpointer=ckpt, hooks=[Record()])
    assert calls == [] and again.curve == first.curve and again.test_top1 == first.test_top1


def test_nan_loss_stops_the_run_and_marks_it_diverged(digits):
    result = train(fresh_model(), digits, spec(epochs=3, lr=1e12), seed=0)
    assert result.diverged
    assert len(result.curve) < 3
    assert result.test_top1 != result.test_top1  # NaN: never reported as a result


def test_diverged_runs_are_never_summarized_as_results():
    from bench.core.counting import Counts
    from bench.core.train import TrainResult
    from bench.evaluation.arms import Arm
    from bench.evaluation.runs import run_record as _run_record
    from bench.pruning import get_adapter
    from bench.pruning.engine import Structure

    arm = Arm(get_adapter("l1-norm")(), "method")
    arm.structure, arm.counts = Structure("structured", {"conv1": (8, 16)}), Counts(10, 10)
    arm.runs = [_run_record(0, TrainResult(2, 90.0, 91.0, 99.0)), _run_record(1, TrainResult(-1, -1.0, float("nan"), float("nan"), diverged=True))]
    summary = arm.summary(Counts(20, 20))
    assert summary["diverged"] and summary["top1_mean"] is None and summary["runs"][1]["top1"] is None
