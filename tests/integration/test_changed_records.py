"""CI re-runs one seed of every record the change under test adds or modifies, so that a submitted
record reaches the leaderboard only with numbers that came back from its own spec.

The change is what git says differs from its base: `PRUNEBENCH_CI_BASE` (a ref the CI of a pull request
sets to the branch it merges into), else the fork point from `origin/HEAD`, else the last commit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from bench.core.records import VERIFICATION_SUFFIX

from tests.helpers.paths import REPO


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def change_base() -> str | None:
    """The commit the change under test is measured against (None: not a git checkout)."""
    if (named := os.environ.get("PRUNEBENCH_CI_BASE")) and (found := _git("rev-parse", "--verify", f"{named}^{{commit}}")):
        return found
    head = _git("rev-parse", "HEAD")
    fork = _git("merge-base", "HEAD", "origin/HEAD") if _git("rev-parse", "--verify", "origin/HEAD") else None
    if fork and fork != head:
        return fork
    return _git("rev-parse", "--verify", "HEAD~1^{commit}")


def is_record(path: str) -> bool:
    """A record file in submissions/ (not the schema, a dense checkpoint's index, a sweep's state or a verification)."""
    parts = path.split("/")
    return (parts[0] == "submissions" and path.endswith(".json") and not path.endswith(VERIFICATION_SUFFIX)
            and parts[-1] != "schema.json" and ".sweep" not in parts and "dense" not in parts[:2])


def changed_records() -> list[str]:
    base = change_base()
    if base is None:
        return []
    listed = _git("diff", "--name-only", "--diff-filter=AM", base, "HEAD", "--", "submissions/") or ""
    return sorted(p for p in listed.splitlines() if is_record(p))


@pytest.mark.slow
@pytest.mark.parametrize("path", changed_records() or [pytest.param(None, marks=pytest.mark.skip(
    reason="the change under test adds or modifies no record (tests/evaluation/test_verify.py re-runs a committed one)"))])
def test_each_added_or_changed_record_reproduces_one_seed(path, tmp_path):
    from bench.evaluation.verify import verify

    record = json.loads((REPO / path).read_text())
    copy = tmp_path / (REPO / path).name  # verified as a copy: the committed tree stays as it is
    shutil.copyfile(REPO / path, copy)
    result = verify(copy, (record["seeds"][0],), runs_dir=tmp_path / "runs", verifier="CI")
    assert result["status"] in ("identical", "within spread"), json.dumps(result["results"], indent=1)


def test_the_change_is_measured_against_a_named_base_its_fork_point_or_the_last_commit(monkeypatch):
    if _git("rev-parse", "HEAD~1") is None:
        pytest.skip("not a git checkout with history")
    monkeypatch.setenv("PRUNEBENCH_CI_BASE", "HEAD~1")
    assert change_base() == _git("rev-parse", "HEAD~1")
    monkeypatch.setenv("PRUNEBENCH_CI_BASE", "no-such-ref")  # a name that resolves to nothing: the fallbacks
    assert change_base() is not None


@pytest.mark.parametrize("path, counted", [
    ("submissions/digits/resnet20/l1-norm_speedup4_ft-40_0123456789ab.json", True),
    ("submissions/digits/resnet20/l1-norm_speedup4_ft-40_0123456789ab.verification.json", False),
    ("submissions/schema.json", False),
    ("submissions/dense/index.json", False),
    ("submissions/.sweep/jobs/0123456789ab.json", False),
    ("leaderboard/leaderboard.json", False),
])
def test_only_record_files_are_re_run(path, counted):
    assert is_record(path) is counted
