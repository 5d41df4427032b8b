"""The run specification: one identity for evaluate, sweep, caches and records.

Literal hashes are pinned (a change makes every cached run and record unreachable: do it on purpose);
every field that determines the numbers moves the hash and nothing else does; the JSON form round-trips.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from bench.api import RunSpec
from bench.core import protocols, shipped
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target, get_adapter


BASE = dict(adapter="hrankplus", threads=2)

# Pinned: the default `bench evaluate --adapter hrankplus` on 2 CPU threads, and an l1-norm run; and
# the same runs in the contiguous memory format, which keep the ids they had before the format was a
# choice (the reference records' runs are of that kind).
PINNED_DEFAULT = "d309059640ec"
PINNED_L1 = "832eec49f198"
PINNED_DEFAULT_CONTIGUOUS = "f2cdff476a14"
PINNED_L1_CONTIGUOUS = "41f107f95844"


def test_literal_hashes_are_pinned(dense_weights):
    assert RunSpec(**BASE).hash == PINNED_DEFAULT
    spec = RunSpec(adapter="l1-norm", protocol="ft-40", seeds=(0,), threads=1, target=Target(ratio=0.8))
    assert spec.hash == PINNED_L1
    assert RunSpec(**BASE, memory_format="contiguous").hash == PINNED_DEFAULT_CONTIGUOUS
    assert dataclasses.replace(spec, memory_format="contiguous").hash == PINNED_L1_CONTIGUOUS
    assert RunSpec(**BASE).record_path == f"digits/resnet20/hrankplus_ratio0.5_clr-90_{PINNED_DEFAULT}.json"


# One changed value per field that determines the numbers.
CHANGES = {
    "adapter": "random",
    "hparams": get_adapter("hrankplus").Hparams(calibration_batches=3),
    "target": Target(ratio=0.6),
    "layout": "block-internal",
    "model": "resnet32",
    "dataset": "cifar10",
    "split_seed": 1,
    "protocol": "clr-40",
    "seeds": (0, 1),
    "random_control": False,
    "allocation_control": True,
    "iterations": 2,
    "dense_seed": 1,
    "device": "cuda",
    "threads": 1,
    "compile": True,
    "memory_format": "contiguous",
    "precision": "bf16",
    "world_size": 2,
}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_every_field_that_determines_the_numbers_moves_the_hash(field):
    changed = RunSpec(**{**BASE, field: CHANGES[field]})
    assert changed.hash != RunSpec(**BASE).hash
    assert RunSpec.from_dict(json.loads(json.dumps(changed.to_dict()))) == changed


def test_a_speedup_target_is_its_own_identity_and_round_trips():
    spec = RunSpec(**{**BASE, "target": Target(speedup=3.0)})
    assert spec.hash != RunSpec(**{**BASE, "target": Target(speedup=3.5)}).hash != RunSpec(**BASE).hash
    assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert "speedup3" in spec.record_path
    assert "speedup" not in RunSpec(**BASE).identity()["target"]  # runs specified before it keep their ids


def test_every_field_is_covered_by_the_changes_above():
    fields = {f.name for f in dataclasses.fields(RunSpec)}
    assert fields - set(CHANGES) == {"checkpoint", "checkpoint_sha256"}  # tested below: by content, not path


def test_the_same_run_spelled_differently_has_one_hash(dense_weights, tmp_path):
    defaults_written = RunSpec(**{**BASE, "hparams": get_adapter("hrankplus").Hparams()}, target=Target(ratio=0.5))
    assert defaults_written.hash == RunSpec(**BASE).hash
    assert RunSpec(**BASE, dense_seed=5, checkpoint=str(dense_weights)).hash == RunSpec(**BASE, checkpoint=str(dense_weights)).hash
    moved = tmp_path / "elsewhere.pt"
    moved.write_bytes(dense_weights.read_bytes())
    assert RunSpec(**BASE, checkpoint=str(moved)).hash == RunSpec(**BASE, checkpoint=str(dense_weights)).hash
    torch.manual_seed(1)
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), moved)
    assert RunSpec(**BASE, checkpoint=str(moved)).hash != RunSpec(**BASE, checkpoint=str(dense_weights)).hash


def test_a_synthesized_protocol_is_identified_by_what_it_resolves_to(monkeypatch):
    before = RunSpec(**{**BASE, "protocol": "clr-41"}).hash
    monkeypatch.setitem(protocols.DEFAULT_WARMUP, "clr", 0.2)  # a code constant behind the name `clr-41`
    assert RunSpec(**{**BASE, "protocol": "clr-41"}).hash != before


def test_the_json_form_refuses_what_it_cannot_trust(dense_weights):
    spec = RunSpec(**BASE, checkpoint=str(dense_weights))
    data = spec.to_dict()
    assert RunSpec.from_dict(data) == spec
    with pytest.raises(BenchError, match="unknown run specification field"):
        RunSpec.from_dict({**data, "lr": 0.1})
    with pytest.raises(BenchError, match="no hyperparameter"):
        RunSpec.from_dict({**data, "hparams": {"bogus": 1}})
    torch.save({}, dense_weights)
    with pytest.raises(BenchError, match="not the file this run was specified with"):
        RunSpec.from_dict(data)


def test_a_version_1_spec_trained_in_its_devices_legacy_memory_format():
    """Records written before the memory format was a choice carry spec_version 1 and no format: they
    read back as the format their device trained in (CPU contiguous, CUDA channels_last), so their
    stored run id still is their spec's hash."""
    old = {k: v for k, v in RunSpec(**BASE, memory_format="contiguous").to_dict().items() if k != "memory_format"}
    old["spec_version"] = 1
    spec = RunSpec.from_dict(old)
    assert spec.memory_format == "contiguous" and spec.hash == PINNED_DEFAULT_CONTIGUOUS
    assert RunSpec.from_dict({**old, "device": "cuda", "threads": None}).memory_format == "channels_last"
    with pytest.raises(BenchError, match="unsupported run specification version"):
        RunSpec.from_dict({**old, "spec_version": 99})
    with pytest.raises(BenchError, match="--memory-format: must be one of channels_last, contiguous, got 'nhwc'"):
        RunSpec(**BASE, memory_format="nhwc")


def test_a_cpu_spec_states_its_threads_and_a_gpu_spec_none():
    with pytest.raises(BenchError, match="thread count"):
        RunSpec(adapter="l1-norm")
    assert RunSpec(adapter="l1-norm", device="cuda", threads=4).threads is None
    assert RunSpec(adapter="random", threads=1).random_control is False  # random pruning is its own control


# --- the CLI end to end ---------------------------------------------------------------------------


def test_keep_counts_targets_are_refused_with_iterations():
    from bench.evaluation.spec import RunSpec
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="--iterations"):
        RunSpec(adapter="l1-norm", target=Target(speedup=3), iterations=2, threads=1)


def test_a_spec_names_a_shipped_checkpoint_by_its_repository_path(tmp_path, monkeypatch):
    """Records carry no machine path: a shipped checkpoint is written as submissions/dense/<file>, and
    read back from anywhere it resolves to this installation's copy."""
    from bench.evaluation.spec import RunSpec

    monkeypatch.chdir(tmp_path)  # not the repository root
    copy = shipped.for_run("resnet20", "digits", "l1-norm")
    spec = RunSpec(adapter="l1-norm", threads=1, checkpoint=str(copy.path))
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["checkpoint"] == "submissions/dense/digits-resnet20.pt"
    back = RunSpec.from_dict(data)
    assert back.hash == spec.hash and back.checkpoint == str(copy.path)
