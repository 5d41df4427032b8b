"""`bench perf --only epoch` (bench/ui/device_epoch.py): one training epoch under each device option."""

from __future__ import annotations

import pytest
import torch

from bench.ui.cli import main


pytestmark = pytest.mark.usefixtures("one_thread")

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


def test_the_epoch_grid_is_the_whole_one_on_a_gpu_and_the_practical_one_on_a_cpu(monkeypatch):
    from bench.perf import device_epoch

    on_cpu = device_epoch.variants(CPU)
    assert {(v.batch, v.compile) for v in on_cpu} == {(64, False)}
    assert {(v.precision, v.memory_format) for v in on_cpu} == {("fp32", "channels_last"), ("fp32", "contiguous"), ("bf16", "channels_last"), ("bf16", "contiguous")}
    monkeypatch.setattr(device_epoch, "compile_problem", lambda device: None)
    on_gpu = device_epoch.variants(CUDA)
    assert len(on_gpu) == 16 and {v.batch for v in on_gpu} == {64, 512} and {v.compile for v in on_gpu} == {False, True}
    monkeypatch.setattr(device_epoch, "compile_problem", lambda device: "Triton is not installed")
    assert {v.compile for v in device_epoch.variants(CUDA)} == {False}


def test_perf_epoch_times_the_real_training_loop_per_variant(monkeypatch, capsys):
    """`bench perf --only epoch` end to end, on a smaller model and set than its defaults."""
    from bench.perf import device_epoch

    real = device_epoch.epoch_timings
    monkeypatch.setattr(device_epoch, "epoch_timings", lambda device: real(device, n_train=96, model_name="resnet20"))
    assert main(["perf", "--only", "epoch"]) == 0
    out = capsys.readouterr().out
    assert "one resnet20 training epoch on synthetic CIFAR (cpu" in out
    rows = [line for line in out.splitlines() if "img/s" in line]
    assert len(rows) == 4 and "×1.00" in rows[0]
    assert all(float(row.split("img/s")[0].split()[-1]) > 0 for row in rows)
