"""Run hashes: canonical JSON, literal hashes pinned so caches and records stay reachable, commits."""

import re
import subprocess
from pathlib import Path

import pytest

from bench.api import dense_config, source_commit
from bench.config import Recipe, canonical_json, config_hash
from bench.data import load_dataset


def test_canonical_json_is_order_independent():
    assert canonical_json({"b": 1, "a": (1, 2)}) == canonical_json({"a": [1, 2], "b": 1}) == '{"a":[1,2],"b":1}'


def test_recipe_lr_schedule():
    recipe = Recipe(epochs=160, lr=0.1, milestones=(0.5, 0.75), gamma=0.1, batch_size=64)
    assert recipe.milestone_epochs() == (80, 120)
    assert [recipe.step_lr(e) for e in (0, 79, 80, 119, 120, 159)] == [0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1]


def test_dense_baseline_hash_is_pinned():
    """The id of the default dense baseline, as cited by every record in submissions/. If this changes,
    every cached baseline is retrained and old records no longer match: do it on purpose only, by
    bumping DENSE_TRAINING_VERSION."""
    assert config_hash(dense_config("resnet20", load_dataset("digits"), 0)) == "7f15dce2ea4b"


def test_records_name_the_commit_when_run_from_a_checkout(monkeypatch):
    """Editable or not (`pip install .` copies no .git), running from the checkout finds its commit."""
    repo = Path(__file__).resolve().parent.parent
    if not (repo / ".git").exists():
        pytest.skip("not running from a git checkout")
    monkeypatch.chdir(repo)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=repo).stdout.strip()
    commit = source_commit()
    assert commit is not None and re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit) and commit.startswith(head)
