"""The repository's own submissions and generated pages: every record valid, the leaderboard current."""

from pathlib import Path

from bench import records
from bench.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_every_committed_submission_validates():
    for path in sorted((REPO / "submissions").rglob("*.json")):
        if path.name != "schema.json":
            records.read(path)


def test_committed_leaderboard_is_up_to_date(capsys):
    code = main(["leaderboard", "--check", "--submissions", str(REPO / "submissions"), "--out", str(REPO / "leaderboard")])
    assert code == 0, capsys.readouterr().err
