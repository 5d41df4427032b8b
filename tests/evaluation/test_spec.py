"""The run specification: one identity for evaluate, sweep, caches and records.

Literal hashes are pinned (a change makes every cached run and record unreachable: do it on purpose);
every field that determines the numbers moves the hash and nothing else does; the JSON form round-trips.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.api import Execution, RunSpec, evaluate, specify
from bench.core import protocols
from bench.errors import BenchError
from bench.infra.progress import SilentReporter
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


@pytest.fixture
def weights(tmp_path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "dense.pt"
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), path)
    return path


def test_literal_hashes_are_pinned(weights):
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


def test_the_same_run_spelled_differently_has_one_hash(weights, tmp_path):
    defaults_written = RunSpec(**{**BASE, "hparams": get_adapter("hrankplus").Hparams()}, target=Target(ratio=0.5))
    assert defaults_written.hash == RunSpec(**BASE).hash
    assert RunSpec(**BASE, dense_seed=5, checkpoint=str(weights)).hash == RunSpec(**BASE, checkpoint=str(weights)).hash
    moved = tmp_path / "elsewhere.pt"
    moved.write_bytes(weights.read_bytes())
    assert RunSpec(**BASE, checkpoint=str(moved)).hash == RunSpec(**BASE, checkpoint=str(weights)).hash
    torch.manual_seed(1)
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), moved)
    assert RunSpec(**BASE, checkpoint=str(moved)).hash != RunSpec(**BASE, checkpoint=str(weights)).hash


def test_a_synthesized_protocol_is_identified_by_what_it_resolves_to(monkeypatch):
    before = RunSpec(**{**BASE, "protocol": "clr-41"}).hash
    monkeypatch.setitem(protocols.DEFAULT_WARMUP, "clr", 0.2)  # a code constant behind the name `clr-41`
    assert RunSpec(**{**BASE, "protocol": "clr-41"}).hash != before


def test_the_json_form_refuses_what_it_cannot_trust(weights):
    spec = RunSpec(**BASE, checkpoint=str(weights))
    data = spec.to_dict()
    assert RunSpec.from_dict(data) == spec
    with pytest.raises(BenchError, match="unknown run specification field"):
        RunSpec.from_dict({**data, "lr": 0.1})
    with pytest.raises(BenchError, match="no hyperparameter"):
        RunSpec.from_dict({**data, "hparams": {"bogus": 1}})
    torch.save({}, weights)
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
    with pytest.raises(BenchError, match="unknown memory format 'nhwc'"):
        RunSpec(**BASE, memory_format="nhwc")


def test_a_cpu_spec_states_its_threads_and_a_gpu_spec_none():
    with pytest.raises(BenchError, match="thread count"):
        RunSpec(adapter="l1-norm")
    assert RunSpec(adapter="l1-norm", device="cuda", threads=4).threads is None
    assert RunSpec(adapter="random", threads=1).random_control is False  # random pruning is its own control


def test_a_spec_runs_only_where_its_numbers_hold(tmp_path):
    with pytest.raises(BenchError, match="specified for cuda"):
        evaluate(RunSpec(adapter="l1-norm", device="cuda"), Execution(device="cpu"))


# --- run-level reuse ------------------------------------------------------------------------------


class Trainings(SilentReporter):
    """Counts the trainings an evaluation starts, and keeps its messages."""

    def __init__(self):
        self.trained, self.messages = [], []

    def task(self, label, epochs):
        self.trained.append(label)
        return super().task(label, epochs)

    def message(self, text):
        self.messages.append(text)


@pytest.mark.slow
def test_identical_runs_are_trained_once_and_marked_reused(tmp_path, weights):
    """Adding a seed retrains only the new seed; a random pruning in l1-norm's layout is l1-norm's own
    random control (same dense weights, structure, protocol and seeds), so it trains nothing."""
    execution = Execution(runs_dir=str(tmp_path / "runs"), records_dir=str(tmp_path / "out"), device="cpu")
    run = lambda **kw: evaluate(specify(torch.device("cpu"), protocol="ft-1", checkpoint=str(weights), **kw), execution, counter)  # noqa: E731

    counter = Trainings()
    first, _ = run(adapter="l1-norm", seeds=(0,))
    assert len(counter.trained) == 2 and not any(r["reused"] for arm in ("method", "random_control") for r in first[arm]["runs"])

    counter = Trainings()
    two_seeds, _ = run(adapter="l1-norm", seeds=(0, 1))
    assert counter.trained == ["l1-norm seed 1", "random seed 1"]
    assert [r["reused"] for r in two_seeds["method"]["runs"]] == [True, False]
    assert two_seeds["method"]["runs"][0] == {**first["method"]["runs"][0], "reused": True}

    counter = Trainings()
    random, _ = run(adapter="random", layout="block-internal", seeds=(0, 1))
    assert counter.trained == []  # both seeds were l1-norm's control runs
    unmarked = lambda runs: [{k: v for k, v in r.items() if k != "reused"} for r in runs]  # noqa: E731
    assert unmarked(random["method"]["runs"]) == unmarked(two_seeds["random_control"]["runs"])
    assert all(r["reused"] for r in random["method"]["runs"])
    assert random["run_id"] != two_seeds["run_id"]


def test_an_evaluate_record_and_a_sweep_record_are_the_same_file(tmp_path, weights):
    """`bench evaluate --out OUT` and `bench sweep --out OUT` of the same run agree on its path."""
    from bench.sweep.grid import parse_grid

    grid = parse_grid(
        f'protocols = "ft-1"\nseeds = [0]\ncheckpoint = "{weights}"\n[[adapters]]\nname = "l1-norm"\nratios = [0.7]\n',
        source=tmp_path / "g.toml",
    ).with_threads(1)
    torch.set_num_threads(1)
    spec = specify(torch.device("cpu"), adapter="l1-norm", protocol="ft-1", seeds=(0,), checkpoint=str(weights), target=Target(ratio=0.7))
    (run,) = grid.runs
    assert run.spec == spec and run.record == spec.record_path


# --- the CLI end to end ---------------------------------------------------------------------------


def bench(*argv: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench", *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_evaluate_and_sweep_find_each_others_records(tmp_path, weights):
    out, runs = tmp_path / "out", tmp_path / "runs"
    (tmp_path / "grid.toml").write_text(
        f'protocols = "ft-1"\nseeds = [0]\nthreads = 1\ncheckpoint = "{weights}"\n'
        '[[adapters]]\nname = "l1-norm"\nratios = [0.7]\n[[adapters]]\nname = "fpgm"\nratios = [0.7]\n'
    )
    common = ["--protocol", "ft-1", "--seeds", "1", "--ratio", "0.7", "--checkpoint", str(weights), "--threads", "1",
              "--runs-dir", str(runs), "--out", str(out)]
    proc = bench("evaluate", "--adapter", "l1-norm", *common, cwd=tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    (evaluated,) = out.rglob("*.json")
    before = evaluated.read_text()

    proc = bench("sweep", "grid.toml", "--out", str(out), "--runs-dir", str(runs), "--jobs", "1", cwd=tmp_path)
    stdout, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "1 of 2 runs already have their record" in err  # evaluate's record, found by the sweep
    assert evaluated.read_text() == before
    swept = [p for p in out.rglob("*.json") if ".sweep" not in p.parts and p != evaluated]
    assert len(swept) == 1 and "fpgm" in swept[0].name

    before = swept[0].read_text()
    proc = bench("evaluate", "--adapter", "fpgm", *common, cwd=tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "already in" in err and swept[0].read_text() == before  # the sweep's record, found by evaluate


@pytest.mark.slow
def test_two_identical_evaluations_at_once_train_every_run_once(tmp_path, weights):
    """Issue 16: the second process waits for the runs the first is training and reuses them."""
    args = ["evaluate", "--adapter", "l1-norm", "--protocol", "ft-3", "--seeds", "1", "--checkpoint", str(weights),
            "--threads", "1", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    start = time.perf_counter()
    procs = [bench(*args, cwd=tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    seconds = time.perf_counter() - start
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    err = "".join(e for _, e in outputs)
    # 2 processes × 2 runs (method, control) needed; each run trained once: the other 2 are reuses,
    # either one by one ("reusing ... finished run") or as the finished record ("already in").
    reuses = err.count("finished run") + 2 * err.count("already in")
    assert reuses == 2, err
    assert "Traceback" not in err
    (record,) = (tmp_path / "out").rglob("*.json")
    print(f"two concurrent evaluations: {seconds:.1f} s wall")
