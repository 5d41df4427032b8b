from pathlib import Path

import pytest


@pytest.fixture
def subs(tmp_path) -> Path:
    """An empty submissions folder; tests put records in it (tests/leaderboard/builders.py) and build the
    leaderboard into its sibling folders."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    return folder
