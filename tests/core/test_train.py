"""The training loop (bench/core/train.py): training in the memory format and precision asked for, `--compile`,
when it checkpoints, the best-state copy, exact resume after an interrupt or a crash, and divergence. What each
device does differently (bench/infra/devices.py) is tested in tests/infra/test_devices.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import bench.infra.devices as devices
from bench.api import RunSpec
from bench.core.checkpoint import CURRENT, Checkpointer
from bench.core.hooks import TrainingHook
from bench.core.train import TrainSpec, _copy_state, train
from bench.infra.devices import compile_problem
from bench.infra.interrupt import Interrupted, StopFlag
from bench.models import build_model

from tests.helpers.tiny import tiny


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: extra threads only thrash on shared cores

def spec(epochs: int = 3) -> TrainSpec:
    return TrainSpec(epochs=epochs, batch_size=32, lr_at=lambda step: 0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)


def weights(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


# --- CPU: plain fp32, in the memory format asked for -------------------------------------------------


def _hand_written_epoch(model: nn.Module, data, memory_format: torch.memory_format) -> None:
    torch.manual_seed(0)
    model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    model.train()
    for inputs, labels in data.train_batches(32, seed=0, epoch=0):
        loss = nn.functional.cross_entropy(model(inputs.contiguous(memory_format=memory_format)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("memory_format", [None, "contiguous", "channels_last"])
def test_cpu_training_is_the_plain_fp32_loop_bit_for_bit(tiny_cifar, memory_format):
    """On CPU the harness trains exactly like a hand-written fp32 loop in the same memory format (the
    CPU's own by default): no autocast; its multi-tensor SGD update is bitwise the per-parameter one."""
    seen = []

    class Probe(TrainingHook):
        def after_backward(self, model):
            autocast = torch.is_autocast_enabled("cuda") or torch.is_autocast_enabled("cpu")
            layout = "channels_last" if model.conv.weight.is_contiguous(memory_format=torch.channels_last) else "contiguous"
            seen.append((autocast, layout, torch.backends.cudnn.benchmark))

    benchmark = torch.backends.cudnn.benchmark
    harness = tiny()
    train(harness, tiny_cifar, spec(epochs=1), seed=0, hooks=[Probe()], memory_format=memory_format)
    expected = memory_format or "contiguous"
    assert set(seen) == {(False, expected, benchmark)}
    assert harness.conv.weight.is_contiguous()  # back to the default layout for pruning and saving

    bare = tiny()
    _hand_written_epoch(bare, tiny_cifar, devices.MEMORY_FORMATS[expected])
    for (name, a), b in zip(weights(harness).items(), weights(bare).values()):
        assert torch.equal(a, b), name


def test_channels_last_rounds_differently_so_it_is_part_of_the_identity(tiny_cifar):
    a, b = tiny(), tiny()
    train(a, tiny_cifar, spec(epochs=1), seed=0, memory_format="channels_last")
    train(b, tiny_cifar, spec(epochs=1), seed=0, memory_format="contiguous")
    assert any(not torch.equal(x, y) for x, y in zip(weights(a).values(), weights(b).values()))
    spec_ = RunSpec(adapter="l1-norm", threads=1)
    assert spec_.memory_format == "channels_last"
    assert spec_.hash != RunSpec(adapter="l1-norm", threads=1, memory_format="contiguous").hash
    with pytest.raises(ValueError, match="unknown memory format"):
        train(tiny(), tiny_cifar, spec(epochs=1), seed=0, memory_format="nhwc")


# --- best-state copy and loss on the device -----------------------------------------------------------


def test_best_state_is_copied_into_the_previous_buffers():
    model = tiny()
    first = _copy_state(model, None)
    buffers = {k: v.data_ptr() for k, v in first.items()}
    with torch.no_grad():
        model.conv.weight.add_(1.0)
    second = _copy_state(model, first)
    assert second is first and {k: v.data_ptr() for k, v in second.items()} == buffers
    assert torch.equal(second["conv.weight"], model.conv.weight) and second["conv.weight"].data_ptr() != model.conv.weight.data_ptr()
    other = {k: v.double() for k, v in first.items()}  # e.g. restored in another dtype/device: a fresh copy
    assert _copy_state(model, other) is not other


# --- checkpoint cadence ------------------------------------------------------------------------------


class CountingCheckpointer(Checkpointer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.saved_epochs = []

    def save(self, state):
        self.saved_epochs.append((state["epoch"], state["batch"]))
        super().save(state)


@pytest.mark.parametrize("every, expected", [(0, [(1, 0), (2, 0), (3, 0), (4, 0)]), (float("inf"), [(1, 0), (4, 0)])])
def test_checkpoints_after_the_first_epoch_when_due_and_after_the_last(tmp_path, tiny_cifar, every, expected):
    ckpt = CountingCheckpointer(tmp_path, every=every)
    train(tiny(), tiny_cifar, spec(epochs=4), seed=0, checkpointer=ckpt)
    assert ckpt.saved_epochs == expected


class Crash(Exception):
    pass


def test_a_crash_between_checkpoints_replays_from_the_last_one_exactly(tmp_path, tiny_cifar):
    """SIGKILL-like: no save at the crash; the run resumes from the epoch-1 checkpoint and replays."""
    reference_model = tiny()
    reference = train(reference_model, tiny_cifar, spec(epochs=4), seed=5)

    steps = []

    class CrashInEpoch3(TrainingHook):
        def after_step(self, model):
            steps.append(1)
            if len(steps) == 2 * 6 + 3:  # 6 steps per epoch: mid-way through the third epoch
                raise Crash

    ckpt = CountingCheckpointer(tmp_path, every=float("inf"))
    with pytest.raises(Crash):
        train(tiny(), tiny_cifar, spec(epochs=4), seed=5, hooks=[CrashInEpoch3()], checkpointer=ckpt)
    assert ckpt.saved_epochs == [(1, 0)] and (tmp_path / CURRENT).exists()

    resumed_model = tiny(seed=99)
    torch.manual_seed(12345)
    resumed = train(resumed_model, tiny_cifar, spec(epochs=4), seed=5, checkpointer=Checkpointer(tmp_path, every=float("inf")))
    assert resumed.curve == reference.curve and resumed.test_top1 == reference.test_top1
    for (name, a), b in zip(weights(reference_model).items(), weights(resumed_model).values()):
        assert torch.equal(a, b), name


# --- --compile (its checks and eager fallback: tests/infra/test_devices.py) ------------------------------


@pytest.mark.slow
def test_compile_trains_for_real_on_cpu_and_saves_plain_weights(tiny_cifar):
    problem = compile_problem(torch.device("cpu"))
    if problem is not None:
        pytest.skip(problem)
    messages = []
    model = tiny()
    result = train(model, tiny_cifar, spec(epochs=1), seed=0, compile=True, warn=messages.append)
    assert messages == []  # compiled, no fallback
    assert not result.diverged and result.test_top1 >= 0
    assert list(model.state_dict()) == list(tiny().state_dict())  # no `_orig_mod.` prefix
    eager = tiny()
    train(eager, tiny_cifar, spec(epochs=1), seed=0)
    for (name, a), b in zip(weights(eager).items(), weights(model).values()):  # same training, other kernels
        assert torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-4), name


# --- precision of the forward, and `bench perf --only epoch` ---------------------------------------------


@pytest.mark.parametrize("precision, autocast", [(None, False), ("fp32", False), ("bf16", True)])
def test_the_forward_runs_in_the_precision_asked_for(tiny_cifar, precision, autocast):
    """Runs use the device's precision (fp32 on CPU, bf16 autocast on CUDA); perf times the other too."""
    seen = []
    model = tiny()
    model.conv.register_forward_hook(lambda module, args, out: seen.append((torch.is_autocast_enabled("cpu"), out.dtype)) if module.training else None)
    train(model, tiny_cifar, spec(epochs=1), seed=0, precision=precision)
    assert set(seen) == {(autocast, torch.bfloat16 if autocast else torch.float32)}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast never changes the weights
    with pytest.raises(ValueError, match="unknown precision"):
        train(tiny(), tiny_cifar, spec(epochs=1), seed=0, precision="fp8")


# --- interrupts, resume and divergence, on digits ------------------------------------------------------


def digits_spec(epochs=2, lr=0.05):
    return TrainSpec(epochs=epochs, batch_size=128, lr_at=lambda step: lr, momentum=0.9, nesterov=True, weight_decay=1e-4)


def fresh_model():
    torch.manual_seed(0)
    return build_model("resnet20", num_classes=10, in_channels=1)


@pytest.mark.parametrize("stop_after_step", [1, 11, 14])  # mid-epoch, last step of epoch 0 (11 steps), epoch 1
def test_interrupt_then_resume_gives_bitwise_the_uninterrupted_run(tmp_path, digits, stop_after_step):
    reference_model = fresh_model()
    reference = train(reference_model, digits, digits_spec(), seed=3)

    flag = StopFlag()
    steps = []

    class CountSteps(TrainingHook):
        def after_step(self, model):
            steps.append(1)
            if len(steps) == stop_after_step:
                flag.requested = True

    ckpt = Checkpointer(tmp_path)
    with pytest.raises(Interrupted):
        train(fresh_model(), digits, digits_spec(), seed=3, hooks=[CountSteps()], checkpointer=ckpt, stop=flag)
    assert (tmp_path / CURRENT).exists()

    resumed_model = fresh_model()
    torch.manual_seed(12345)  # a different global RNG state: the checkpoint must restore it
    resumed = train(resumed_model, digits, digits_spec(), seed=3, checkpointer=ckpt)
    assert resumed.curve == reference.curve
    assert (resumed.test_top1, resumed.best_epoch) == (reference.test_top1, reference.best_epoch)
    for (name, a), b in zip(weights(reference_model).items(), weights(resumed_model).values()):
        assert torch.equal(a, b), name


def test_a_finished_checkpoint_is_not_retrained(tmp_path, digits):
    ckpt = Checkpointer(tmp_path)
    first = train(fresh_model(), digits, digits_spec(epochs=1), seed=0, checkpointer=ckpt)
    calls = []

    class Record(TrainingHook):
        def after_step(self, model):
            calls.append(1)

    again = train(fresh_model(), digits, digits_spec(epochs=1), seed=0, checkpointer=ckpt, hooks=[Record()])
    assert calls == [] and again.curve == first.curve and again.test_top1 == first.test_top1


def test_nan_loss_stops_the_run_and_marks_it_diverged(digits):
    result = train(fresh_model(), digits, digits_spec(epochs=3, lr=1e12), seed=0)
    assert result.diverged
    assert len(result.curve) < 3
    assert result.test_top1 != result.test_top1  # NaN: never reported as a result
