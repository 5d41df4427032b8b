"""The repository's own submissions and generated pages: every record valid and starting from a shipped
checkpoint, every collapse flagged and no schedule run twice, the leaderboard current, CI as the README says."""

from __future__ import annotations

from bench.core import records
from bench.evaluation import recount
from bench.evaluation.spec import RunSpec
from bench.leaderboard.board import build
from bench.leaderboard.load import load_folder
from bench.ui.cli import main

from tests.helpers.paths import REPO


def test_every_committed_submission_validates():
    folder = REPO / "submissions"
    for path in sorted(folder.rglob("*.json")):
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)  # a sweep's state (.sweep/)
        if path.name != "schema.json" and not hidden and not path.name.endswith(records.VERIFICATION_SUFFIX):
            record = records.read(path)
            # What the leaderboard (no torch) cannot check: counts from the stored structure, run id from the spec.
            assert recount.problems(record) == [], path.name
            if "spec" in record:
                assert path.relative_to(folder).as_posix() == RunSpec.from_dict(record["spec"], check_checkpoint=False).record_path


def test_every_committed_record_starts_from_a_shipped_checkpoint():
    """A record from other dense weights would sit in tables of its own (bench/core/shipped.py)."""
    from bench.core import shipped

    weights = {c.weights_sha256 for c in shipped.checkpoints()}
    folder = REPO / "submissions"
    for path in sorted(folder.rglob("*.json")):
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
        if path.name != "schema.json" and not hidden and not path.name.endswith(records.VERIFICATION_SUFFIX):
            record = records.read(path)
            assert record["dense"]["weights_sha256"] in weights, path.name
            assert record["spec"]["checkpoint"].startswith("submissions/dense/"), path.name  # no machine path


def test_committed_leaderboard_is_up_to_date(capsys):
    code = main(["leaderboard", "--check", "--submissions", str(REPO / "submissions"), "--out", str(REPO / "leaderboard")])
    assert code == 0, capsys.readouterr().err


def test_ci_runs_exactly_the_readmes_test_command():
    readme = (REPO / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv .venv") and line.endswith("pytest")]
    assert len(commands) == 1 and "pip install -e " in commands[0]  # editable: a new adapter needs no reinstall
    assert commands[0] in (REPO / ".ci" / "run").read_text()


def test_the_committed_records_flag_every_collapse_and_repeat_no_schedule():
    """The reference records: every collapsed run says so, and no schedule is run twice under two names."""
    good, rejected = load_folder(REPO / "submissions")
    assert not rejected
    for sub in good:
        classes = sub.record["dataset"]["num_classes"]
        arms = [sub.record[a] for a in ("method", "random_control", "allocation_control") if isinstance(sub.record.get(a), dict)]
        for arm in arms:
            assert [run["collapsed"] for run in arm["runs"]] == [records.collapsed(run, classes) for run in arm["runs"]], sub.file
    b = build(good, rejected)
    assert not b.findings.same and not b.same  # LRW-40 is FT-40 on digits: the sweep runs it once
