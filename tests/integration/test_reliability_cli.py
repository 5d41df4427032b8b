"""The real CLI in subprocesses: SIGKILL at several points and rerun, SIGTERM, and a shared dense cache."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.processes import start_bench, without_timings


def run_to_end(args: list[str], cwd: Path) -> str:
    """Run the CLI to completion; returns stderr."""
    proc = start_bench(*args, cwd=cwd)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return err


def only_record(folder: Path) -> dict:
    (path,) = folder.rglob("*.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, dense_state_file):
    path = tmp_path_factory.mktemp("reliability")
    shutil.copyfile(dense_state_file, path / "dense.pt")
    return path


def evaluate_args(workdir: Path, name: str) -> list[str]:
    return [
        "evaluate", "--adapter", "global-magnitude", "--protocol", "clr-21", "--seeds", "2", "--ratio", "0.7",
        "--checkpoint", str(workdir / "dense.pt"), "--runs-dir", str(workdir / f"runs-{name}"),
        "--out", str(workdir / f"out-{name}"),
    ]


@pytest.fixture(scope="module")
def reference(workdir):
    run_to_end(evaluate_args(workdir, "reference"), workdir)
    return only_record(workdir / "out-reference")


@pytest.mark.slow
def test_sigkill_at_several_points_then_rerun_gives_the_same_record(workdir, reference):
    args = evaluate_args(workdir, "killed")
    kills = 0
    for delay in (5.0, 6.5, 8.0, 9.5):
        proc = start_bench(*args, cwd=workdir)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
    assert kills >= 2, "the run finished too fast to be killed mid-way"
    run_to_end(args, workdir)
    assert without_timings(only_record(workdir / "out-killed")) == without_timings(reference)


@pytest.mark.slow
def test_sigterm_saves_and_says_how_to_resume(workdir, reference):
    args = evaluate_args(workdir, "terminated")
    proc = start_bench(*args, cwd=workdir)
    deadline = time.time() + 300
    while not list((workdir / "runs-terminated").glob("run/*/checkpoint.pt")):
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else "timeout"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert "stopped by SIGTERM" in last and "rerun the same command" in last
    assert not (workdir / "out-terminated").exists() or not list((workdir / "out-terminated").rglob("*.json"))
    run_to_end(args, workdir)
    assert without_timings(only_record(workdir / "out-terminated")) == without_timings(reference)


@pytest.mark.slow
def test_rerunning_a_finished_evaluation_redoes_no_training(workdir, reference):
    err = run_to_end(evaluate_args(workdir, "reference"), workdir)
    assert "already in" in err  # the record is there: nothing runs
    (path,) = (workdir / "out-reference").rglob("*.json")
    path.unlink()
    err = run_to_end(evaluate_args(workdir, "reference"), workdir)
    assert err.count("reusing its own finished run") == 4  # 2 arms × 2 seeds, none trained again
    assert without_timings(only_record(workdir / "out-reference")) == without_timings(reference)


@pytest.mark.slow
def test_two_processes_share_one_dense_baseline(tmp_path):
    procs = [start_bench("train", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    errs = [err for _, err in outputs]
    assert sum("reusing cached dense" in e for e in errs) == 1  # the other one trained it
    assert sum("waiting" in e for e in errs) == 1
    (cache,) = (tmp_path / "runs" / "dense").iterdir()
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == ["lock", "model.pt", "result.json"]


@pytest.mark.slow
def test_different_seeds_give_different_runs(reference):
    first, second = reference["method"]["runs"]
    assert (first["seed"], second["seed"]) == (0, 1)
    assert first["curve"] != second["curve"]  # different data order (and augmentation) per seed


@pytest.mark.slow
def test_two_identical_evaluations_at_once_train_every_run_once(tmp_path, dense_weights):
    """Issue 16: the second process waits for the runs the first is training and reuses them."""
    args = ["evaluate", "--adapter", "l1-norm", "--protocol", "ft-3", "--seeds", "1", "--checkpoint", str(dense_weights),
            "--threads", "1", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    start = time.perf_counter()
    procs = [start_bench(*args, cwd=tmp_path) for _ in range(2)]
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


def _read_bytes(pid: int) -> int:
    """Bytes the process has read so far (Linux /proc/PID/io), 0 where that is not readable."""
    try:
        return int(next(line for line in Path(f"/proc/{pid}/io").read_text().splitlines() if line.startswith("rchar:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return 0


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/PID/io to see the hashing start")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_hashing_of_a_huge_checkpoint_within_two_seconds(tmp_path, sig):
    """Hashing a 50 GB checkpoint (sparse: no disk used) takes half a minute; a signal in the middle of it
    stops the command within 2 s with its one line, exit 130, and nothing written."""
    big = tmp_path / "big.pt"
    with big.open("wb") as f:
        f.truncate(50 * 2**30)
    proc = start_bench("evaluate", "--adapter", "l1-norm", "--checkpoint", str(big), "--out", "out", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while _read_bytes(proc.pid) < 2**30 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until a GB of the checkpoint is hashed
    assert proc.poll() is None, proc.communicate()[1]
    sent = time.monotonic()
    proc.send_signal(sig)
    said = proc.stderr.readline()  # the step has stopped when the command says so (then the interpreter exits)
    stopped_after = time.monotonic() - sent
    _, rest = proc.communicate(timeout=30)
    assert stopped_after < 2.0, f"stopped {stopped_after:.2f} s after the signal"
    assert proc.returncode == 130 and said + rest == f"bench: stopped by {sig.name}; progress saved: rerun the same command to resume\n"
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()
