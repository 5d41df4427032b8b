"""Where a run executes: the device, the CPU thread count, torch.compile, and what the record says
about the machine (python, torch, device name, threads, the prunebench commit)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

import bench
from bench import defaults
from bench.errors import BenchError
from bench.infra import distributed
from bench.infra.devices import compile_problem
from bench.infra.progress import Reporter


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BenchError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"device {name!r} requested but CUDA is not available")
    return device


def training_device(name: str = "auto") -> torch.device:
    """The device this process trains on; under torchrun, after joining the process group (each rank
    on its own GPU, cuda:LOCAL_RANK)."""
    return distributed.setup(resolve_device(name))


def default_threads() -> int:
    """Every core this process may run on (torch's default can undercount under cgroups), shared
    among the torchrun processes of this machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(cores // distributed.local_processes(), 1)


def cpu_kernels() -> str:
    """The instruction set torch's CPU kernels use here ("AVX2", "AVX512", ...): recorded, because
    other CPUs round differently (see bench/evaluation/spec.py)."""
    return torch.backends.cpu.get_cpu_capability()


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def set_threads(threads: int | None = None) -> int:
    """Train with `threads` CPU threads, default `default_threads()`."""
    if threads is None:
        threads = default_threads()
    if not 1 <= threads <= defaults.MAX_THREADS:
        raise BenchError(f"--threads must be between 1 and {defaults.MAX_THREADS}, got {threads}")
    torch.set_num_threads(threads)
    return threads


def compile_usable(compile: bool, device: torch.device, reporter: Reporter) -> bool:
    """Whether to train through torch.compile: asked for and workable here (else a one-line warning)."""
    problem = compile_problem(device) if compile else None
    if problem is not None:
        reporter.message(f"warning: --compile: torch.compile is unavailable ({problem}); training without it")
    return compile and problem is None


def world_identity() -> dict:
    """Data-parallel runs are runs of their own (per-rank BatchNorm statistics); single-process ids unchanged."""
    return {"world_size": distributed.world_size()} if distributed.world_size() > 1 else {}


def describe(device: torch.device) -> dict:
    """The machine a record was computed on (informative; the run identity has what changes numbers)."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()}, {cpu_model()})",
        "threads": torch.get_num_threads(),
        **({"cpu_kernels": cpu_kernels()} if device.type == "cpu" else {}),
        "commit": source_commit(),
        **world_identity(),
    }


def source_commit() -> str | None:
    """The prunebench git commit this code runs from (with -dirty for local changes), if known: the
    checkout an editable install points at, else (`pip install .` copies no .git) the prunebench
    checkout in the working directory, which is where the README's commands run."""
    for root in (Path(bench.__file__).resolve().parent.parent, Path.cwd()):
        pyproject = root / "pyproject.toml"
        if (root / ".git").exists() and pyproject.exists() and 'name = "prunebench"' in pyproject.read_text():
            return _git_commit(root)
    return None


def _git_commit(root: Path) -> str | None:
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
