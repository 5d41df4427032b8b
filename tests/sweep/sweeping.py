"""Real sweeps of tiny runs (an untrained ResNet-20 checkpoint, 1-epoch protocols, one seed) in a subprocess,
interrupted midway and restarted, and the checks that nothing was duplicated, lost or invalid: shared by the
local, Ray and submitit executors' tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.core import records
from bench.sweep.grid import load_grid
from bench.ui.cli import main


SWEEP_8 = """
models = "resnet20"
protocols = ["clr-1", "ft-1"]
seeds = 1
checkpoint = "dense.pt"

[[adapters]]
name = "global-magnitude"
ratios = [0.5, 0.7]

[[adapters]]
name = "l1-norm"
ratios = [0.3, 0.5]
"""


SWEEP_3 = """
models = "resnet20"
protocols = "clr-1"
seeds = 1
checkpoint = "dense.pt"
random_control = false

[[adapters]]
name = "global-magnitude"
ratios = [0.5, 0.7]

[[adapters]]
name = "l1-norm"
ratios = 0.3
"""


def sweep(workdir: Path, grid: str, out: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")  # no telemetry, no network
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "sweep", grid, "--out", out, "--runs-dir", f"runs-{out}", *extra],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def record_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.json") if ".sweep" not in p.parts)


def interrupt_once_some_records_exist(proc: subprocess.Popen, out: Path, sig: int, at_least: int, total: int) -> int:
    deadline = time.time() + 400
    while len(record_files(out)) < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no records appeared"
        time.sleep(0.1)
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    done = len(record_files(out))
    assert done < total, "the sweep finished before it could be interrupted"
    return done


def wait_for_exit(pids: set[int], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        assert time.time() < deadline, f"workers {pids} outlived the sweep"
        time.sleep(0.1)


def worker_pids(out: Path) -> set[int]:
    pids = set()
    for path in (out / ".sweep" / "progress").glob("*.json"):
        try:
            pids.add(json.loads(path.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            pass
    return pids


def raylets() -> set[int]:
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"raylet" in cmdline.read_bytes():
                found.add(int(cmdline.parent.name))
        except OSError:
            pass
    return found


def check_complete(workdir: Path, out: Path, grid_file: str, before: dict[str, str], failed: int = 0) -> dict[str, dict]:
    """Every run has exactly one valid record where the grid says (the last `failed` runs none);
    records that existed before the restart are untouched; `bench leaderboard` takes the folder as
    is, rejecting nothing."""
    plan = json.loads((out / ".sweep" / "plan.json").read_text())  # hashes computed by the sweep process
    threads = plan["runs"][0]["config"]["environment"]["threads"]  # the sweep's share of the cores
    grid = load_grid(workdir / grid_file).with_threads(threads)
    files = record_files(out)
    expected = grid.runs[: len(grid.runs) - failed]
    assert sorted(p.relative_to(out).as_posix() for p in files) == sorted(r.record for r in expected)
    loaded = {p.relative_to(out).as_posix(): records.read(p) for p in files}
    assert len({r["run_id"] for r in loaded.values()}) == len(loaded)
    for name, text in before.items():
        assert (out / name).read_text() == text, f"{name} was redone"
    assert not list(out.rglob("*.tmp"))  # records are written atomically
    assert [r["hash"] for r in plan["runs"]] == [r.hash for r in grid.runs]
    assert main(["leaderboard", "--submissions", str(out), "--out", str(out.parent / f"site-{out.name}")]) == 0
    return loaded


def snapshot(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text() for p in record_files(out)}


def overhead(wall: float, loaded: dict[str, dict], before: dict[str, str]) -> str:
    """(wall time - training time) / runs, over the runs this invocation trained."""
    ran = [r for name, r in loaded.items() if name not in before]
    train = sum(run["seconds"] for r in ran for arm in ("method", "random_control") if r[arm] for run in r[arm]["runs"])
    return f"{(wall - train) / len(ran):.1f} s per run over {len(ran)} runs"


# One more run that fails wherever it runs: CIFAR-10 is not under data_root.
FAILING = """
[[adapters]]
name = "l1-norm"
models = "resnet32"
datasets = "cifar10"
protocols = "clr-1"
"""
