"""The sweep tests' working folder, and a sweep job whose record is already there."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.sweep.job import Job

from tests.sweep.sweeping import SWEEP_3, SWEEP_8


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, dense_state_file) -> Path:
    """A folder with dense weights (dense.pt) and two grids: sweep8.toml (8 runs) and sweep3.toml (3)."""
    path = tmp_path_factory.mktemp("sweep")
    shutil.copyfile(dense_state_file, path / "dense.pt")
    (path / "sweep8.toml").write_text(SWEEP_8)
    (path / "sweep3.toml").write_text(SWEEP_3)
    return path


@pytest.fixture
def done_job(tmp_path, example_record) -> Job:
    """A job whose valid record is already at its path: every executor skips it without training."""
    record = tmp_path / "out" / "digits" / "resnet20" / "done.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps(example_record))
    return Job(hash="0123456789ab", label="hrankplus ratio0.5 resnet20/digits clr-3", spec={}, execution={},
               record=str(record), state=str(tmp_path / "out" / ".sweep"), epochs=3)
