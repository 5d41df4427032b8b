"""Training checkpoints: checksummed with a fallback to the previous one, saved on a cadence, and the
weights digest that identifies a checkpoint's weights. (Resuming from them: tests/core/test_train.py.)"""

from __future__ import annotations

import pytest
import torch

from bench.core.checkpoint import CHECKPOINT_EVERY, CURRENT, PREVIOUS, Checkpointer
from bench.errors import BenchError


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


def test_a_checkpoint_is_due_first_then_every_interval(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("bench.core.checkpoint.time.monotonic", lambda: now[0])
    ckpt = Checkpointer(tmp_path, every=60)
    assert ckpt.due()
    ckpt.save({"x": 1})
    now[0] += 59.9
    assert not ckpt.due()
    now[0] += 0.1
    assert ckpt.due()
    assert Checkpointer(tmp_path).every == CHECKPOINT_EVERY == 60.0
    every_epoch = Checkpointer(tmp_path, every=0)
    every_epoch.save({"x": 2})
    assert every_epoch.due()
    for bad in (-1, float("nan")):
        with pytest.raises(BenchError, match="interval"):
            Checkpointer(tmp_path, every=bad)


def test_weights_digest_is_the_weights_identity():
    import torch

    from bench.core.checkpoint import weights_digest

    torch.manual_seed(0)
    a = {"w": torch.randn(3, 4), "b": torch.zeros(2, dtype=torch.long)}
    same = {"b": a["b"].clone(), "w": a["w"].clone()}  # order and storage do not matter
    assert weights_digest(a) == weights_digest(same) and len(weights_digest(a)) == 64
    changed = {**same, "w": same["w"].clone()}
    changed["w"][1, 2] = torch.nextafter(changed["w"][1, 2], torch.tensor(1e9))  # one ulp
    assert weights_digest(changed) != weights_digest(a)
    assert weights_digest({"w2": a["w"], "b": a["b"]}) != weights_digest(a)  # names are part of it
