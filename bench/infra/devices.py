"""What each device does differently: evaluation batch sizes, the memory format a model and its batches
train in (and each device's earlier one), the training forward's precision, cuDNN autotuning, and
whether torch.compile works here (and the eager fallback when it does not).

Devices: on CPU training is fp32 eager PyTorch (the thread count is set by the caller); on CUDA cuDNN
autotunes and the training forward runs under bf16 autocast; evaluation stays fp32. channels_last is
13-32% faster per CPU training step than the default layout for the CIFAR ResNets, and faster on tensor
cores; it rounds differently, so the format is part of a run's identity, and callers that name none get
their device's earlier layout.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
from typing import Callable

import torch
import torch.nn as nn

from bench import defaults

EVAL_BATCH_SIZE = {"cuda": 512, "cpu": 128}  # per device type; CPU kernels run faster per image on batches that fit in cache


def eval_batch_size(device: torch.device) -> int:
    return EVAL_BATCH_SIZE.get(device.type, EVAL_BATCH_SIZE["cpu"])


MEMORY_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
# What each device type trained in before the format was a choice (records without one in their spec).
LEGACY_MEMORY_FORMAT = {"cpu": "contiguous", "cuda": "channels_last"}


def default_memory_format(device: torch.device | str) -> str:
    """The format a device trained in before it was a choice (callers that do not name one)."""
    kind = device if isinstance(device, str) else device.type
    return LEGACY_MEMORY_FORMAT.get(kind, "contiguous")


def batch_layout(inputs: torch.Tensor, memory_format: str) -> torch.Tensor:
    """An image batch in the run's memory format (other inputs as they are)."""
    if memory_format == "channels_last" and inputs.dim() == 4:
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs


@contextlib.contextmanager
def device_setup(model: nn.Module, device: torch.device, memory_format: str):
    """cuDNN autotuning on CUDA, and the model in `memory_format` while it trains (back to the default
    layout afterwards, which is what pruning and saving expect)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest kernels
    if memory_format == "contiguous":
        yield
        return
    model.to(memory_format=MEMORY_FORMATS[memory_format])
    try:
        yield
    finally:
        model.to(memory_format=torch.contiguous_format)


PRECISIONS = defaults.PRECISIONS


def default_precision(device: torch.device) -> str:
    """bf16 autocast on CUDA (tensor cores; bf16 has fp32's range: no loss scaling), fp32 on CPU."""
    return "bf16" if device.type == "cuda" else "fp32"


def forward_precision(device: torch.device, precision: str | None = None) -> Callable[[], contextlib.AbstractContextManager]:
    """The training forward's context: autocast to bf16, or nothing (fp32). Runs always use their
    device's default (`default_precision`); `bench perf --only epoch` times the other one too."""
    if (precision or default_precision(device)) == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def compile_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot work on `device` here, or None if it should."""
    try:
        import torch._dynamo
    except Exception as exc:  # broken or stripped torch builds
        return f"torch._dynamo cannot be imported ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    if not torch._dynamo.is_dynamo_supported():
        return f"torch.compile does not support Python {platform.python_version()} on {sys.platform}"
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            return "Triton is not installed"
    elif not any(shutil.which(cxx) for cxx in (os.environ.get("CXX"), "g++", "c++", "clang++") if cxx):
        return "no C++ compiler found (torch.compile's CPU backend needs one)"
    return None


def compiled(model: nn.Module, device: torch.device, warn: Callable[[str], None]) -> Callable[[torch.Tensor], torch.Tensor]:
    """`torch.compile(model)` as the training forward, or `model` itself with a one-line warning."""
    problem = compile_problem(device)
    if problem is None:
        try:
            return _CompiledForward(model, torch.compile(model), warn)
        except Exception as exc:
            problem = _first_line(exc)
    warn(f"warning: --compile: torch.compile is unavailable ({problem}); training without it")
    return model


class _CompiledForward:
    """The compiled forward; if the first call fails to compile, the module's buffers (BatchNorm
    statistics) are put back and training continues eagerly, with a one-line warning."""

    def __init__(self, model: nn.Module, compiled_model: Callable, warn: Callable[[str], None]):
        self.model, self.compiled, self.warn = model, compiled_model, warn
        self.proven = False

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.proven:
            return self.compiled(inputs)
        buffers = [b.detach().clone() for b in self.model.buffers()]
        try:
            out = self.compiled(inputs)
        except Exception as exc:
            with torch.no_grad():
                for buffer, saved in zip(self.model.buffers(), buffers):
                    buffer.copy_(saved)
            self.warn(f"warning: --compile: torch.compile failed ({_first_line(exc)}); training without it")
            self.compiled = self.model
            out = self.model(inputs)
        self.proven = True
        return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
