"""What each device does differently (bench/infra/devices.py): the memory format a model and its batches
train in, cuDNN autotuning, the training forward's precision, the evaluation batch size, and whether
torch.compile works here (and the eager fallback when it does not). No GPU here: the CUDA branches are
exercised with a CUDA device object, which these functions only read the type of."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

import bench.infra.devices as devices
from bench.infra.devices import (
    batch_layout,
    compile_problem,
    compiled,
    default_memory_format,
    device_setup,
    forward_precision,
)

from tests.helpers.tiny import tiny

pytestmark = pytest.mark.usefixtures("one_thread")

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


# --- CPU ---------------------------------------------------------------------------------------------


def test_cpu_gets_no_device_options_but_the_memory_format():
    model = tiny()
    benchmark = torch.backends.cudnn.benchmark
    assert default_memory_format(CPU) == "contiguous"
    with device_setup(model, CPU, "contiguous"):
        assert model.conv.weight.is_contiguous() and torch.backends.cudnn.benchmark == benchmark
    with device_setup(model, CPU, "channels_last"):
        assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
        assert torch.backends.cudnn.benchmark == benchmark
    assert model.conv.weight.is_contiguous()
    x = torch.zeros(2, 3, 4, 4)
    assert batch_layout(x, "contiguous") is x
    assert batch_layout(x, "channels_last").is_contiguous(memory_format=torch.channels_last)
    assert isinstance(forward_precision(CPU)(), contextlib.nullcontext)
    assert devices.eval_batch_size(CPU) == devices.EVAL_BATCH_SIZE["cpu"]


def test_other_device_types_get_the_cpus_choices_and_a_type_name_is_enough():
    other = torch.device("meta")
    assert devices.eval_batch_size(other) == devices.EVAL_BATCH_SIZE["cpu"]
    assert default_memory_format(other) == "contiguous" and devices.default_precision(other) == "fp32"
    assert default_memory_format("cuda") == "channels_last" and default_memory_format("cpu") == "contiguous"
    assert forward_precision(CPU, "fp32") is contextlib.nullcontext
    context = forward_precision(CPU, "bf16")()  # asked for: bf16 autocast on CPU too (`bench perf --only epoch`)
    assert isinstance(context, torch.autocast) and (context.device, context.fast_dtype) == ("cpu", torch.bfloat16)


def test_the_model_returns_to_the_default_layout_even_when_training_fails():
    model = tiny()
    with pytest.raises(RuntimeError, match="diverged"):
        with device_setup(model, CPU, "channels_last"):
            assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
            raise RuntimeError("diverged")
    assert model.conv.weight.is_contiguous()


# --- CUDA, by its device type ------------------------------------------------------------------------


def test_cuda_turns_on_cudnn_autotuning_and_channels_last_while_training(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # restored after the test
    model = tiny()
    assert default_memory_format(CUDA) == "channels_last"
    with device_setup(model, CUDA, default_memory_format(CUDA)):
        assert torch.backends.cudnn.benchmark
        assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.conv.weight.is_contiguous()  # back to the default layout for pruning and saving
    assert all(not k.startswith("_orig_mod") for k in model.state_dict())


def test_cuda_layout_and_precision():
    images, flat = torch.randn(2, 3, 4, 4), torch.randn(2, 5)
    assert batch_layout(images, "channels_last").is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch_layout(images, "channels_last"), images)  # same values, other strides
    assert batch_layout(flat, "channels_last") is flat  # only image batches have a channels_last layout
    with warnings.catch_warnings():  # "CUDA is not available": this machine has none
        warnings.simplefilter("ignore")
        context = forward_precision(CUDA)()
    assert isinstance(context, torch.autocast)
    assert (context.device, context.fast_dtype) == ("cuda", torch.bfloat16)
    assert devices.eval_batch_size(CUDA) == devices.EVAL_BATCH_SIZE["cuda"]
    assert devices.default_precision(CUDA) == "bf16" and devices.default_precision(CPU) == "fp32"


# --- --compile -----------------------------------------------------------------------------------------


def test_compile_problem_names_what_is_missing(monkeypatch):
    monkeypatch.setattr("bench.infra.devices.shutil.which", lambda name: None)
    assert "C++ compiler" in compile_problem(CPU)
    messages = []
    model = tiny()
    assert compiled(model, CPU, messages.append) is model
    assert len(messages) == 1 and "\n" not in messages[0] and "training without it" in messages[0]


def test_a_failing_compile_falls_back_to_eager_with_the_buffers_untouched(monkeypatch):
    model = tiny().train()

    def broken_compile(module, *args, **kwargs):
        def forward(x):
            module(x)  # runs (BatchNorm statistics move) and then fails, as a late compile error would
            raise RuntimeError("backend compiler failed\nlong traceback")

        return forward

    monkeypatch.setattr("bench.infra.devices.compile_problem", lambda device: None)
    monkeypatch.setattr(torch, "compile", broken_compile)
    messages = []
    forward = compiled(model, CPU, messages.append)
    x = torch.randn(4, 3, 8, 8)
    expected_model = tiny().train()
    expected = expected_model(x)
    out = forward(x)
    assert torch.equal(out, expected)
    assert torch.equal(model.bn.running_mean, expected_model.bn.running_mean)  # one update, not two
    assert messages == ["warning: --compile: torch.compile failed (backend compiler failed); training without it"]
    assert forward.compiled is model  # later calls are eager
