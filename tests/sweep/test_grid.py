"""`bench sweep`: grid expansion, hashing and validation in-process; then real sweeps of tiny runs
(an untrained ResNet-20 checkpoint, 1-epoch protocols, one seed) through the local, Ray and submitit
executors, each interrupted midway and restarted: no duplicated, lost or invalid records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.api import RunSpec, specify
from bench.core import records, shipped
from bench.core.config import file_digest
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target
from bench.sweep.driver import make_jobs
from bench.sweep.grid import load_grid, parse_grid
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


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweep")
    torch.manual_seed(0)
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), path / "dense.pt")
    (path / "sweep8.toml").write_text(SWEEP_8)
    (path / "sweep3.toml").write_text(SWEEP_3)
    return path


def write(folder: Path, text: str, name: str = "grid.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# --- grid ----------------------------------------------------------------------------------------


def test_expansion_order_targets_hp_axes_and_layout(workdir):
    grid = parse_grid(
        """
        protocols = ["ft-2", "clr-2"]
        seeds = 2
        checkpoint = "dense.pt"
        [[adapters]]
        name = "hrankplus"
        hp = { calibration_batches = [1, 2] }
        [[adapters]]
        name = "l1-norm"
        ratios = [0.3, 0.3]
        protocols = "lrw-2"
        """,
        source=workdir / "inline.toml",
    )
    labels = [r.label for r in grid.runs]
    assert labels == [
        "hrankplus ratio0.5 calibration_batches=1 resnet20/digits ft-2",
        "hrankplus ratio0.5 calibration_batches=1 resnet20/digits clr-2",
        "hrankplus ratio0.5 calibration_batches=2 resnet20/digits ft-2",
        "hrankplus ratio0.5 calibration_batches=2 resnet20/digits clr-2",
        "l1-norm ratio0.3 resnet20/digits lrw-2",  # a per-adapter protocols list overrides the global one
    ]
    assert grid.duplicates == 1  # ratios [0.3, 0.3]
    first = grid.runs[0]
    assert first.seeds == (0, 1) and first.arms == 2 and first.train_epochs == 2 * 2 * 1  # ft-2 on digits: 2/160 of 30 epochs → 1
    assert first.record == f"digits/resnet20/hrankplus_ratio0.5_ft-2_{first.hash}.json"  # the submissions layout
    assert len({r.hash for r in grid.runs}) == len(grid.runs)


def test_a_soft_pruning_shared_by_several_protocols_is_counted_once(workdir):
    grid = parse_grid(
        """
        protocols = ["ft-16", "clr-16"]
        seeds = 2
        checkpoint = "dense.pt"
        [[adapters]]
        name = "sfp"
        ratios = [0.3, 0.5]
        hp = { soft_epochs = 4 }
        """,
        source=workdir / "soft.toml",
    )
    assert [r.soft_epochs for r in grid.runs] == [4] * 4
    first = grid.runs[0]  # ft-16 on digits: 16/160 of 30 epochs → 3; two arms; two seeds with 4 soft epochs each
    assert first.train_epochs == 2 * (2 * 3 + 4)
    assert len({r.soft_key for r in grid.runs}) == 2  # one per ratio, whichever the protocol
    to_do = grid.epochs_to_do(set())
    assert sum(to_do.values()) == 4 * 2 * 2 * 3 + 2 * 2 * 4
    assert sum(grid.epochs_to_do({first.hash}).values()) == 3 * 2 * 2 * 3 + 2 * 4  # ratio 0.3's soft phase is trained


def test_layouts_are_an_axis_validated_against_the_model_and_hashed_only_when_given(workdir):
    grid = parse_grid(
        """
        protocols = "ft-2"
        checkpoint = "dense.pt"
        [[adapters]]
        name = "l1-norm"
        layouts = ["block-internal", "hrankplus"]
        [[adapters]]
        name = "l1-norm"
        ratios = [0.4]
        """,
        source=workdir / "inline.toml",
    )
    assert [r.label for r in grid.runs] == [
        "l1-norm ratio0.5 layout=block-internal resnet20/digits ft-2",
        "l1-norm ratio0.5 layout=hrankplus resnet20/digits ft-2",
        "l1-norm ratio0.4 resnet20/digits ft-2",
    ]
    assert grid.runs[0].config["layout"] == "block-internal" and grid.runs[2].config["layout"] is None
    assert len({r.hash for r in grid.runs}) == 3
    jobs = make_jobs(grid, list(grid.runs), workdir / "out", workdir / "runs")
    assert [j.spec["layout"] for j in jobs] == ["block-internal", "hrankplus", None]
    assert RunSpec.from_dict(jobs[1].spec) == grid.runs[1].spec  # the worker gets the very run the grid planned
    with pytest.raises(BenchError, match="no pruning layout 'bogus'"):
        parse_grid('protocols = "ft-2"\n[[adapters]]\nname = "l1-norm"\nlayouts = ["bogus"]\n', source=workdir / "g.toml")


def test_hash_covers_what_determines_the_record_and_nothing_else(workdir, tmp_path):
    base = """
    seeds = [1, 0]
    protocols = "ft-2"
    checkpoint = "{ckpt}"
    [[adapters]]
    name = "hrankplus"
    {hp}
    """
    hashes = lambda text, where=workdir, threads=1: [r.hash for r in parse_grid(text, source=where / "g.toml").with_threads(threads).runs]
    reference = hashes(base.format(ckpt="dense.pt", hp=""))
    # The same run spelled differently: defaults written out, seeds as a count, the checkpoint moved.
    assert hashes(base.format(ckpt="dense.pt", hp="hp = { calibration_batches = 5 }")) == reference
    assert hashes(base.format(ckpt="dense.pt", hp="").replace("seeds = [1, 0]", "seeds = 2")) == reference
    (tmp_path / "copy.pt").write_bytes((workdir / "dense.pt").read_bytes())
    assert hashes(base.format(ckpt="copy.pt", hp=""), tmp_path) == reference
    # Anything that changes the record changes the hash.
    assert hashes(base.format(ckpt="dense.pt", hp="hp = { calibration_batches = 4 }")) != reference
    assert hashes(base.format(ckpt="dense.pt", hp="").replace("seeds = [1, 0]", "seeds = 3")) != reference
    assert hashes(base.format(ckpt="dense.pt", hp="").replace('"ft-2"', '"ft-3"')) != reference
    assert hashes("random_control = false\n" + base.format(ckpt="dense.pt", hp="")) != reference
    assert hashes(base.format(ckpt="dense.pt", hp=""), threads=2) != reference  # CPU threads change the numbers
    fixed = "threads = 1\n" + base.format(ckpt="dense.pt", hp="")
    assert hashes(fixed, threads=2) == hashes(fixed, threads=3) == reference  # a grid's own thread count stays
    torch.manual_seed(1)
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), tmp_path / "other.pt")
    assert hashes(base.format(ckpt="other.pt", hp=""), tmp_path) != reference


BAD_GRIDS = {
    "unknown adapter": ('[[adapters]]\nname = "hrank"\n', "adapters[0] (hrank): unknown adapter 'hrank'; did you mean 'hrankplus'"),
    "unknown model": ('models = ["resnet21"]\n[[adapters]]\nname = "l1-norm"\n', "unknown model 'resnet21'"),
    "unknown protocol": ('protocols = ["clr"]\n[[adapters]]\nname = "l1-norm"\n', "protocols: unknown protocol 'clr'"),
    "unknown dataset": ('datasets = ["mnist"]\n[[adapters]]\nname = "l1-norm"\n', "unknown dataset 'mnist'"),
    "unknown key": ('seed = 1\n[[adapters]]\nname = "l1-norm"\n', "unknown key 'seed'; did you mean 'seeds'?"),
    "unknown adapter key": ('[[adapters]]\nname = "l1-norm"\nratio = 0.5\n', "adapters[0] (l1-norm): unknown key 'ratio'; did you mean 'ratios'?"),
    "bad hp": ('[[adapters]]\nname = "hrankplus"\nhp = { batches = 3 }\n', "adapters[0] (hrankplus): bad --hp 'batches=3'"),
    "bad ratio": ('[[adapters]]\nname = "l1-norm"\nratios = [1.5]\n', "must be in (0, 1), got 1.5"),
    "config of another model": ('[[adapters]]\nname = "l1-norm"\nconfigs = "resnet56-A"\n', "adapters[0] (l1-norm): config=resnet56-A on resnet20"),
    "missing checkpoint": ('checkpoint = "nope.pt"\n[[adapters]]\nname = "l1-norm"\n', "nope.pt does not exist"),
    "bad seeds": ('seeds = [0, 0]\n[[adapters]]\nname = "l1-norm"\n', "seeds: need distinct non-negative integers"),
    "wrong type": ('protocols = 3\n[[adapters]]\nname = "l1-norm"\n', "protocols must be a protocol name or a list of them, got 3"),
    "bad device": ('device = "gpu"\n[[adapters]]\nname = "l1-norm"\n', "unknown device 'gpu'"),
    "bad memory format": ('memory_format = "nhwc"\n[[adapters]]\nname = "l1-norm"\n', "memory_format must be one of channels_last, contiguous, got 'nhwc'"),
    "adapter protocol": ('[[adapters]]\nname = "l1-norm"\nprotocols = ["ft-x"]\n', "adapters[0] (l1-norm): unknown protocol 'ft-x'"),
    "no adapters": ('models = ["resnet20"]\n', "no [[adapters]] entries"),
    "not toml": ("models = [\n", "not valid TOML"),
}


def test_a_grid_fixes_the_memory_format_of_its_runs(tmp_path):
    """Runs train in channels_last unless the grid says otherwise (the reference sweep pins contiguous,
    the format its records were trained in): part of every run's identity."""
    plain = load_grid(write(tmp_path, '[[adapters]]\nname = "l1-norm"\n', "plain.toml"))
    pinned = load_grid(write(tmp_path, 'memory_format = "contiguous"\n[[adapters]]\nname = "l1-norm"\n', "pinned.toml"))
    assert [r.spec.memory_format for r in plain.runs] == ["channels_last"]
    assert [r.spec.memory_format for r in pinned.runs] == ["contiguous"]
    assert plain.runs[0].hash != pinned.runs[0].hash


@pytest.mark.parametrize("case", list(BAD_GRIDS))
def test_invalid_grids_are_one_line_errors_with_exit_2(case, tmp_path, capsys):
    text, expected = BAD_GRIDS[case]
    grid = write(tmp_path, text)
    assert main(["sweep", str(grid), "--dry-run", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"bench: error: {grid}: ") and expected in err, err
    assert not (tmp_path / "out").exists()


def test_missing_optional_executor_is_a_one_line_error(workdir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    monkeypatch.setitem(sys.modules, "submitit", None)
    monkeypatch.delitem(sys.modules, "bench.sweep.executors.slurm", raising=False)
    for executor, package in (("ray", "Ray"), ("slurm", "submitit")):
        assert main(["sweep", str(workdir / "sweep3.toml"), "--executor", executor, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"bench: error: executor {executor} needs {package}: pip install 'prunebench[{executor}]'"
    assert not list(tmp_path.iterdir())


def test_dry_run_prints_the_plan_and_runs_nothing(workdir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(workdir / "sweep8.toml"), "--dry-run", "--jobs", "2", "--cpus-per-task", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    grid = load_grid(workdir / "sweep8.toml").with_threads(1)  # hashes cover the threads per run
    rows = {line.split()[1]: line.split() for line in text.splitlines() if line[:1].isdigit()}
    assert [rows[r.hash][2:4] for r in grid.runs] == [[r.adapter, r.target_tag] for r in grid.runs]
    assert all(rows[r.hash][-1] == "do" for r in grid.runs)  # status "to do"
    assert "8 runs: 8 to do, 0 done" in text
    assert "all 1 seeds + the random control → one record" in text
    assert "training: 16 epochs to do" in text
    assert "estimated training compute:" in text and "estimated wall time with 2 runs at once" in text
    assert "estimate basis:" in text
    assert "dense baselines: 1 from checkpoints" in text
    assert not out.exists()


# --- real sweeps ---------------------------------------------------------------------------------


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


@pytest.mark.slow
def test_local_sweep_killed_midway_and_restarted_with_a_failing_run(workdir):
    """SIGKILL the sweep once records exist; its workers stop too (and save); the restart skips what
    finished, resumes the rest, runs past the failure, lists it with its log and exits 1."""
    grid = SWEEP_8.replace('checkpoint = "dense.pt"', 'data_root = "nowhere"\n\n[checkpoint]\nresnet20 = "dense.pt"')
    (workdir / "local.toml").write_text(grid + FAILING)
    out = workdir / "local"
    proc = sweep(workdir, "local.toml", "local", "--jobs", "2")
    interrupt_once_some_records_exist(proc, out, signal.SIGKILL, at_least=2, total=8)
    wait_for_exit(worker_pids(out))  # the workers follow the sweep (SIGTERM: they save and stop)
    before = snapshot(out)
    for text in before.values():
        records.validate(json.loads(text))  # what an interrupted sweep leaves is complete, or absent
    start = time.perf_counter()
    proc = sweep(workdir, "local.toml", "local", "--jobs", "2")
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr  # the failing run
    assert f"{len(before)} of 9 runs already have their record" in stderr
    assert f"{8 - len(before)} done now, {len(before)} already done, 1 failed" in stdout, stdout
    (log,) = [line.split("log: ", 1)[1] for line in stdout.splitlines() if line.strip().startswith("log: ")]
    assert "resnet32/cifar10" in stdout and "CIFAR" in Path(log).read_text()
    loaded = check_complete(workdir, out, "local.toml", before, failed=1)
    print(f"local executor overhead: {overhead(time.perf_counter() - start, loaded, before)}")


@pytest.mark.slow
def test_ray_sweep_interrupted_and_restarted(workdir):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'prunebench[ray]')")
    out = workdir / "ray"
    before_raylets = raylets()
    proc = sweep(workdir, "sweep3.toml", "ray", "--executor", "ray", "--jobs", "2")
    interrupt_once_some_records_exist(proc, out, signal.SIGINT, at_least=1, total=3)
    assert proc.returncode == 130
    before = snapshot(out)
    start = time.perf_counter()
    proc = sweep(workdir, "sweep3.toml", "ray", "--executor", "ray", "--jobs", "2")
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    loaded = check_complete(workdir, out, "sweep3.toml", before)
    deadline = time.time() + 30
    while raylets() - before_raylets:  # the local Ray instance went down with the sweep
        assert time.time() < deadline, "the sweep left a Ray instance running"
        time.sleep(0.2)
    print(f"ray executor overhead (Ray start included): {overhead(time.perf_counter() - start, loaded, before)}")


@pytest.mark.slow
def test_submitit_local_sweep_interrupted_and_restarted(workdir):
    pytest.importorskip("submitit", reason="submitit is not installed (pip install 'prunebench[slurm]')")
    out = workdir / "submitit"
    args = ("--executor", "slurm", "--cluster", "local", "--jobs", "2", "--time", "10")
    proc = sweep(workdir, "sweep3.toml", "submitit", *args)
    interrupt_once_some_records_exist(proc, out, signal.SIGINT, at_least=1, total=3)
    assert proc.returncode == 130
    before = snapshot(out)
    start = time.perf_counter()
    proc = sweep(workdir, "sweep3.toml", "submitit", *args)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    loaded = check_complete(workdir, out, "sweep3.toml", before)
    print(f"submitit-local executor overhead: {overhead(time.perf_counter() - start, loaded, before)}")


def test_jobs_per_device_places_k_runs_on_each_gpu_or_k_on_the_cpu(monkeypatch):
    from bench.sweep import driver
    from bench.sweep.driver import Resources

    cores = Resources.detect("cpu", None, None).cores
    cpu = Resources.detect("cpu", None, None, per_device=2)
    assert (cpu.jobs, cpu.threads, cpu.gpu_memory_fraction) == (2, max(1, cores // 2), None)
    monkeypatch.setattr(driver, "_gpu_count", lambda: 2)
    gpu = Resources.detect("cuda", None, None, per_device=3)
    assert gpu.jobs == 6 and gpu.gpu_memory_fraction == pytest.approx(1 / 3)  # slots map to GPUs round-robin
    with pytest.raises(BenchError, match="give one of them"):
        Resources.detect("cuda", 4, None, per_device=2)
    with pytest.raises(BenchError, match="at least 1"):
        Resources.detect("cpu", None, None, per_device=0)


@pytest.mark.slow
def test_perf_sweep_reports_runs_per_hour_for_each_k():
    """No timing assertion: the rate is the real sweep's, from its parts."""
    from bench.ui import sweep_rate

    rates = sweep_rate.sweep_rates(per_device=(1,), ratios=(0.5,))
    (rate,) = rates
    assert rate.per_device == 1 and rate.runs == 1 and rate.runs_per_hour == pytest.approx(3600 / rate.seconds)
    assert "K = 1:" in sweep_rate.report(rates) and "runs/hour" in sweep_rate.report(rates)


def test_an_evaluate_record_and_a_sweep_record_are_the_same_file(tmp_path, dense_weights):
    """`bench evaluate --out OUT` and `bench sweep --out OUT` of the same run agree on its path."""
    from bench.sweep.grid import parse_grid

    grid = parse_grid(
        f'protocols = "ft-1"\nseeds = [0]\ncheckpoint = "{dense_weights}"\n[[adapters]]\nname = "l1-norm"\nratios = [0.7]\n',
        source=tmp_path / "g.toml",
    ).with_threads(1)
    torch.set_num_threads(1)
    spec = specify(torch.device("cpu"), adapter="l1-norm", protocol="ft-1", seeds=(0,), checkpoint=str(dense_weights), target=Target(ratio=0.7))
    (run,) = grid.runs
    assert run.spec == spec and run.record == spec.record_path


def test_a_grid_with_too_many_seeds_or_epochs_is_refused(tmp_path):
    from bench.errors import BenchError
    from bench.sweep.grid import parse_grid

    with pytest.raises(BenchError, match="need 1 to 1000 seeds"):
        parse_grid('seeds = 100000000\n[[adapters]]\nname = "l1-norm"\n', source=tmp_path / "g.toml")
    with pytest.raises(BenchError, match="epochs must be between"):
        parse_grid('protocols = ["clr-99999999999"]\n[[adapters]]\nname = "l1-norm"\n', source=tmp_path / "g.toml")


def test_sweep_grids_take_speedups_a_checkpoint_per_adapter_and_the_allocation_control(tmp_path):
    from bench.sweep.grid import parse_grid

    shared = shipped.for_run("resnet20", "digits", "l1-norm").path
    own = shipped.for_run("resnet20", "digits", "slimming").path
    grid = parse_grid(
        f"""
protocols = ["ft-40"]
seeds = 2
threads = 1
allocation_control = true
checkpoint = "{shared}"
[[adapters]]
name = "taylor"
speedups = [3, 5]
[[adapters]]
name = "slimming"
speedups = [3]
checkpoint = "{own}"
[[adapters]]
name = "global-magnitude"
ratios = [0.9]
""",
        source=tmp_path / "grid.toml",
    )
    by = {(r.adapter, r.target.describe()): r for r in grid.runs}
    assert set(by) == {("taylor", "speedup=3"), ("taylor", "speedup=5"), ("slimming", "speedup=3"),
                       ("global-magnitude", "ratio=0.9")}
    assert by[("slimming", "speedup=3")].spec.checkpoint_sha256 == file_digest(own)
    assert by[("taylor", "speedup=3")].spec.checkpoint_sha256 == file_digest(shared)
    assert by[("taylor", "speedup=3")].spec.allocation_control and by[("taylor", "speedup=3")].arms == 3
    assert not by[("global-magnitude", "ratio=0.9")].spec.allocation_control  # structured only
    assert json.loads(json.dumps(by[("taylor", "speedup=5")].spec.to_dict()))["target"]["speedup"] == 5


def test_a_grid_with_an_unreachable_speedup_is_refused_before_anything_runs(tmp_path):
    from bench.errors import BenchError
    from bench.sweep.grid import parse_grid

    with pytest.raises(BenchError, match="out of reach"):
        parse_grid('[[adapters]]\nname = "l1-norm"\nspeedups = [500]\n', source=tmp_path / "g.toml")
