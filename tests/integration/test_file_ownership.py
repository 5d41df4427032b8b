"""Every file the tool writes lies in a folder the user named: --runs-dir, --out (records) or the
leaderboard folder; record, verification and sweep-state paths cannot escape them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.core.records import verification_path
from bench.sweep.driver import make_jobs
from bench.sweep.grid import parse_grid


# Libraries' own caches under HOME (matplotlib's font list) are theirs, not the tool's output.
LIBRARY_CACHES = {".cache/matplotlib", ".config/matplotlib"}


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_evaluate_verify_and_leaderboard_write_only_where_they_are_told(tmp_path, dense_weights):
    work, home, tmp = tmp_path / "work", tmp_path / "home", tmp_path / "tmp"
    for folder in (work, home, tmp):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MPLCONFIGDIR"}
    env.update(HOME=str(home), TMPDIR=str(tmp), XDG_CACHE_HOME=str(home / ".cache"))
    run = lambda *argv: subprocess.run([sys.executable, "-m", "bench", *argv], cwd=work, env=env, capture_output=True, text=True, timeout=900)  # noqa: E731

    done = run("evaluate", "--adapter", "l1-norm", "--protocol", "ft-1", "--seeds", "1", "--threads", "1",
               "--checkpoint", str(dense_weights), "--runs-dir", "R", "--out", "O")
    assert done.returncode == 0, done.stderr
    (record,) = (work / "O").rglob("*.json")
    done = run("verify", str(record), "--checkpoint", str(dense_weights), "--runs-dir", "R")
    assert done.returncode == 0, done.stderr
    done = run("leaderboard", "--submissions", "O", "--out", "L")
    assert done.returncode == 0, done.stderr

    assert {Path(f).parts[0] for f in files_under(work)} == {"R", "O", "L"}
    assert not list((work / "R").glob("verify-*"))  # verify's scratch folder is gone
    assert files_under(tmp) == set()
    assert all(any(f.startswith(c) for c in LIBRARY_CACHES) for f in files_under(home)), files_under(home)


def test_paths_from_a_grid_stay_in_the_sweep_folder(tmp_path, dense_weights):
    text = 'protocols = ["ft-1", "clr-2"]\ncheckpoint = "dense.pt"\n[[adapters]]\nname = "l1-norm"\nratios = [0.3, 0.7]\n'
    grid = parse_grid(text, source=tmp_path / "g.toml").with_threads(1)
    out = (tmp_path / "out").resolve()
    for job in make_jobs(grid, list(grid.runs), out, tmp_path / "runs"):
        for path in (Path(job.record), job.log, job.lock, job.progress):
            assert path.resolve().is_relative_to(out), path


@pytest.mark.parametrize("name", ["r.json", "../r.json", "a/b/c.json", "..json", "x"])
def test_a_verification_file_lies_beside_its_record(name, tmp_path):
    record = tmp_path / "deep" / name
    beside = verification_path(record)
    assert beside.parent == record.parent and beside.name.endswith(".verification.json") and beside != record
