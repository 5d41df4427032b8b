"""Where a run executes (bench/infra/environment.py): the commit a record names, and torch.compile
where it cannot run."""

from __future__ import annotations

import re
import subprocess

import pytest
import torch

from bench import api
from bench.infra.environment import source_commit

from tests.helpers.paths import REPO
from tests.helpers.reporters import Recording


CPU = torch.device("cpu")


def test_records_name_the_commit_when_run_from_a_checkout(monkeypatch):
    """Editable or not (`pip install .` copies no .git), running from the checkout finds its commit."""
    repo = REPO
    if not (repo / ".git").exists():
        pytest.skip("not running from a git checkout")
    monkeypatch.chdir(repo)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=repo).stdout.strip()
    commit = source_commit()
    assert commit is not None and re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit) and commit.startswith(head)


def test_unusable_compile_is_dropped_with_one_warning_and_leaves_the_identity_alone(monkeypatch, tiny_cifar):
    reporter = Recording()
    monkeypatch.setattr("bench.infra.environment.compile_problem", lambda device: "no C++ compiler found")
    assert api.compile_usable(True, CPU, reporter) is False and len(reporter.messages) == 1
    assert api.compile_usable(False, CPU, reporter) is False and len(reporter.messages) == 1
    plain = api.dense_config("resnet20", tiny_cifar, 0)
    assert "compile" not in plain  # existing caches keep their hash
    assert api.dense_config("resnet20", tiny_cifar, 0, compile=True) == {**plain, "compile": True}
