"""What every executor shares (bench/sweep/executors/__init__.py): the optional engines asked for without their
package are a one-line error with the install command; a failure is summarized by its last line."""

from __future__ import annotations

import sys

import pytest

from bench.errors import BenchError
from bench.sweep import executors
from bench.ui.cli import main


def test_missing_optional_executor_is_a_one_line_error(workdir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    monkeypatch.setitem(sys.modules, "submitit", None)
    monkeypatch.delitem(sys.modules, "bench.sweep.executors.slurm", raising=False)
    for executor, package in (("ray", "Ray"), ("slurm", "submitit")):
        assert main(["sweep", str(workdir / "sweep3.toml"), "--executor", executor, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"bench: error: executor {executor} needs {package}: pip install 'prunebench[{executor}]'"
    assert not list(tmp_path.iterdir())


def test_an_optional_engine_without_its_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(BenchError) as info:
        executors.require("ray")
    assert str(info.value) == "executor ray needs Ray: pip install 'prunebench[ray]'"
    assert set(executors.EXECUTORS) == {"local", "ray", "slurm"}


def test_a_failure_is_summarized_by_its_last_meaningful_line():
    traceback = "Traceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: CUDA out of memory\n\n  "
    assert executors.one_line(traceback) == "RuntimeError: CUDA out of memory"
    assert executors.one_line("") == executors.one_line("  \n ") == "failed (no message)"
