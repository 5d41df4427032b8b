"""`bench sweep` (bench/sweep/driver.py): the runs at once and threads each from this machine, and a sweep and
`bench evaluate` finding each other's records."""

from __future__ import annotations

import pytest

from bench.errors import BenchError

from tests.helpers.processes import start_bench


@pytest.mark.slow
def test_evaluate_and_sweep_find_each_others_records(tmp_path, dense_weights):
    out, runs = tmp_path / "out", tmp_path / "runs"
    (tmp_path / "grid.toml").write_text(
        f'protocols = "ft-1"\nseeds = [0]\nthreads = 1\ncheckpoint = "{dense_weights}"\n'
        '[[adapters]]\nname = "l1-norm"\nratios = [0.7]\n[[adapters]]\nname = "fpgm"\nratios = [0.7]\n'
    )
    common = ["--protocol", "ft-1", "--seeds", "1", "--ratio", "0.7", "--checkpoint", str(dense_weights), "--threads", "1",
              "--runs-dir", str(runs), "--out", str(out)]
    proc = start_bench("evaluate", "--adapter", "l1-norm", *common, cwd=tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    (evaluated,) = out.rglob("*.json")
    before = evaluated.read_text()

    proc = start_bench("sweep", "grid.toml", "--out", str(out), "--runs-dir", str(runs), "--jobs", "1", cwd=tmp_path)
    stdout, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "1 of 2 runs already have their record" in err  # evaluate's record, found by the sweep
    assert evaluated.read_text() == before
    swept = [p for p in out.rglob("*.json") if ".sweep" not in p.parts and p != evaluated]
    assert len(swept) == 1 and "fpgm" in swept[0].name

    before = swept[0].read_text()
    proc = start_bench("evaluate", "--adapter", "fpgm", *common, cwd=tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "already in" in err and swept[0].read_text() == before  # the sweep's record, found by evaluate


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
