"""A rejected input stays within bounded memory: each of the inputs that once built a 23 GB schedule, a
36 GB seed list or a grid of 7.2 million hours is refused, under `ulimit -v 4000000` (4 GB of address
space, most of which importing torch takes), with one line and exit code 2 before anything is allocated."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

INPUTS = {
    "seeds": (["evaluate", "--adapter", "l1-norm", "--seeds", "1000000000"], "at most 1000 seeds"),
    "seed list": (["evaluate", "--adapter", "l1-norm", "--seeds", ",".join(map(str, range(5000)))], "at most 1000 seeds"),
    "epochs": (["evaluate", "--adapter", "l1-norm", "--protocol", "clr-99999999999999999999"], "epochs must be between 1"),
    "compress rate": (["evaluate", "--adapter", "l1-norm", "--compress-rate", "[0.1]*99999999"], "compress"),
    "calibration": (["evaluate", "--adapter", "hrankplus", "--hp", "calibration_batches=99999999999"], "at most 10,000 images"),
    "threads": (["evaluate", "--adapter", "l1-norm", "--threads", "100000"], "between 1 and 1024"),
    "steps": (["protocols", "show", "clr-9999", "--steps-per-epoch", "99999999999", "--json"], "steps"),
    "checkpoint": (["evaluate", "--adapter", "l1-norm", "--checkpoint", "/dev/zero"], "not a regular file"),
    "grid": (["sweep", "huge.toml", "--dry-run"], ""),
    "deep record": (["validate", "deep.json"], ""),
}


@pytest.mark.skipif(shutil.which("bash") is None or sys.platform != "linux", reason="ulimit -v needs bash on Linux")
@pytest.mark.parametrize("name", list(INPUTS))
def test_a_rejected_input_stays_within_4_gb(name, tmp_path):
    argv, message = INPUTS[name]
    (tmp_path / "huge.toml").write_text('adapters = ["l1-norm"]\nprotocols = ["clr-99999999999"]\nseeds = 1000000000\n')
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    quoted = " ".join(f"'{a}'" for a in [sys.executable, "-m", "bench", *argv])
    done = subprocess.run(["bash", "-c", f"ulimit -v 4000000 && exec {quoted}"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode in ((1, 2) if argv[0] == "validate" else (2,)), done.stderr
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr
    assert (len(lines) == 1 if argv[0] != "validate" else lines), done.stderr
    assert message in done.stderr, done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("checkpoint.pt"))  # nothing trained
