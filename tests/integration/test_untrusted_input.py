"""Nothing the tool reads can run code or write outside its folder."""

from __future__ import annotations

import re

import pytest
import torch

from bench.api import RunSpec, load_checkpoint
from bench.errors import BenchError
from bench.leaderboard.keys import slug
from bench.models import build_model

from tests.helpers.paths import REPO


SOURCES = REPO


class _Exploit:
    def __reduce__(self):
        return (print, ("this would have run code",))


def test_checkpoints_with_code_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Exploit()}, path)
    with pytest.raises(BenchError, match="cannot read checkpoint"):
        load_checkpoint(build_model("resnet20", num_classes=10, in_channels=1), path)
    assert "would have run code" not in capsys.readouterr().out


def test_no_eval_exec_or_unrestricted_pickle_in_the_code():
    pattern = re.compile(r"(?<![.\w])(eval|exec)\(|pickle\.loads?\(|yaml\.load\(|weights_only=False")
    offenders = [
        f"{path.relative_to(SOURCES)}:{n}"
        for folder in ("bench", "adapters")
        for path in (SOURCES / folder).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/../../b", "..\\..\\x", "/abs/path", "..", "x" * 500])
def test_names_from_records_cannot_escape_their_folder(name, example_record):
    """A record's path has exactly three parts (dataset/model/file), none of them a parent, hidden or too long."""
    parts = RunSpec(adapter="l1-norm", model=name, threads=1).record_path.split("/")
    assert len(parts) == 3 and all(p and not p.startswith(".") and "\\" not in p and len(p) < 255 for p in parts)
    key = {"dataset": {"name": name}, "model": name, "protocol": {"name": name}}
    assert re.fullmatch(r"[a-z0-9-]+", slug(key))
