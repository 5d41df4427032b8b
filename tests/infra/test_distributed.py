"""Data-parallel training under torchrun (bench/infra/distributed.py), on CPU with the gloo backend.

The exact check uses a model without BatchNorm: there the 2-process gradient average is the global
batch's gradient, so DDP must train the same weights as one process (up to float summation order).
With BatchNorm (per-rank statistics) results are equal only in expectation: the end-to-end test runs
the real `bench evaluate` under torchrun and checks the record, not equality.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

from bench.core.checkpoint import Checkpointer
from bench.core.hooks import TrainingHook
from bench.core.train import TrainSpec, evaluate, train
from bench.errors import BenchError
from bench.infra import distributed
from bench.infra.interrupt import Interrupted, StopFlag
from bench.perf import perf


WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10)
    )


SPEC = TrainSpec(epochs=2, batch_size=40, lr_at=lambda step: 0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)


def _data():
    return perf.synthetic_cifar(n_train=150, n_eval=50)  # last batch of 30: shards of 15 each


def _worker(rank: int, port: int, out: str, mode: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        model, data, folder = _no_bn_model(), _data(), Path(out) / "run"
        stopped = None  # (steps trained, the Interrupted message) where this rank stopped
        if mode == "interrupted":  # rank 1 alone is asked to stop: every rank must stop at the same step
            stop = StopFlag()
            stop.requested = rank == 1
            steps = []

            class CountSteps(TrainingHook):
                def after_step(self, model):
                    steps.append(1)

            try:
                train(model, data, SPEC, seed=3, checkpointer=Checkpointer(folder), stop=stop, hooks=[CountSteps()])
            except Interrupted as exc:
                stopped = (len(steps), str(exc))
            model = _no_bn_model()
        result = train(model, data, SPEC, seed=3, checkpointer=Checkpointer(folder, every=0))
        torch.save({"state": model.state_dict(), "test": result.test_top1, "curve": [e.to_dict() for e in result.curve],
                    "val": evaluate(model, data, "val"), "stopped": stopped}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _spawn(tmp_path: Path, mode: str = "plain") -> list[dict]:
    mp.spawn(_worker, args=(_free_port(), str(tmp_path), mode), nprocs=WORLD, join=True)
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.fixture
def single():
    torch.set_num_threads(1)
    model, data = _no_bn_model(), _data()
    result = train(model, data, SPEC, seed=3)
    return model.state_dict(), result


@pytest.mark.slow
def test_two_processes_train_the_single_process_weights(tmp_path, single):
    ranks = _spawn(tmp_path)
    state, result = single
    for key, value in state.items():
        assert torch.equal(ranks[0]["state"][key], ranks[1]["state"][key]), key  # ranks never drift apart
        torch.testing.assert_close(ranks[0]["state"][key], value, rtol=1e-4, atol=1e-5)
    for log, expected in zip(ranks[0]["curve"], result.curve):
        assert log["train_loss"] == pytest.approx(expected.train_loss, rel=1e-4)  # the global mean loss
        assert log["val_top1"] == expected.val_top1  # sharded evaluation counts every sample once
    assert ranks[0]["test"] == ranks[1]["test"] == result.test_top1
    assert (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.slow
def test_a_stop_on_one_rank_stops_all_and_the_run_resumes_exactly(tmp_path):
    uninterrupted = _spawn(tmp_path / "a")
    resumed = _spawn(tmp_path / "b", mode="interrupted")
    # Both ranks stopped, at the same step: the first one after the request (rank 1's, from the start).
    assert [r["stopped"] for r in resumed] == [(1, "stopped by request at epoch 0, step 1")] * WORLD
    for key, value in uninterrupted[0]["state"].items():
        assert torch.equal(resumed[0]["state"][key], value), key
    assert resumed[0]["curve"] == uninterrupted[0]["curve"]


def test_shards_partition_every_batch_in_order():
    data = _data()
    whole = list(data.train_batches(40, seed=1, epoch=2))
    shards = [list(data.train_batches(40, seed=1, epoch=2, shard=(r, WORLD))) for r in range(WORLD)]
    for i, (inputs, labels) in enumerate(whole):
        assert torch.equal(shards[0][i][0], inputs[0::2]) and torch.equal(shards[1][i][0], inputs[1::2])
        assert torch.equal(torch.cat([shards[0][i][1], shards[1][i][1]]).sort().values, labels.sort().values)
    val = [torch.cat([y for _, y in data.eval_batches("val", 16, shard=(r, WORLD))]) for r in range(WORLD)]
    assert sum(len(v) for v in val) == data.sizes["val"]


def test_a_batch_too_small_to_split_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 4)
    with pytest.raises(BenchError, match="a batch of 2 samples cannot be split over 4 processes"):
        distributed.check_divisible(102, 50)
    distributed.check_divisible(104, 50)  # last batch of 4: one sample per rank


def test_single_process_helpers_are_no_ops():
    assert distributed.world_size() == 1 and distributed.is_main() and distributed.shard() == (0, 1)
    assert distributed.from_main(lambda: 7) == 7 and distributed.gather("x") == ["x"]
    assert distributed.rank_seed(5) == 5
    model = nn.Linear(2, 2)
    assert distributed.wrap(model, torch.device("cpu")) is model


@pytest.mark.slow
def test_torchrun_evaluate_writes_one_record_from_rank_zero(tmp_path, dense_weights):
    """`torchrun --nproc-per-node 2 -m bench evaluate ...`, as a user runs it (outside the checkout)."""
    argv = ["evaluate", "--adapter", "l1-norm", "--protocol", "ft-2", "--seeds", "1", "--no-random-control",
            "--checkpoint", "dense.pt", "--runs-dir", "runs", "--out", "out"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(WORLD), "--master-port", str(_free_port()),
         "-m", "bench", *argv],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("record written to") == 1  # only rank 0 prints
    (path,) = (tmp_path / "out").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["environment"]["world_size"] == WORLD
    assert 0 <= record["method"]["top1_mean"] <= 100 and "latency" in record["method"]
    check = subprocess.run([sys.executable, "-m", "bench", "validate", str(path)], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    # The single-process run of the same command is a different run (its own id and record).
    single = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-2000:]
    assert len(list((tmp_path / "out").rglob("*.json"))) == 2
