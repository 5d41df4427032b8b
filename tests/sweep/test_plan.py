"""`bench sweep --dry-run` (bench/sweep/plan.py): the table of runs, what is done, and a measured estimate."""

from __future__ import annotations

from bench.sweep import plan
from bench.sweep.grid import load_grid
from bench.ui.cli import main


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


def test_the_plan_marks_what_is_done_and_estimates_nothing_when_nothing_is_left(workdir, tmp_path):
    grid = load_grid(workdir / "sweep8.toml").with_threads(1)
    hashes = {r.hash for r in grid.runs}
    text = plan.describe(grid, tmp_path / "out", hashes, "local", None)
    rows = {line.split()[1]: line.split() for line in text.splitlines() if line[:1].isdigit() and line.split()[1] in hashes}
    assert set(rows) == hashes and all(row[-1] == "done" for row in rows.values())
    assert "8 runs: 0 to do, 8 done" in text and "training: 0 epochs to do" in text and "estimated" not in text


def test_durations_and_seed_lists_read_short():
    assert [plan._duration(s) for s in (30, 120, 7200)] == ["30 s", "2.0 min", "2.0 h"]
    assert plan._seeds((0, 1, 2)) == "0,1,2" and plan._seeds(tuple(range(10))) == "0..9 (10)"
