"""`python -m bench` (bench/__main__.py): the command line, its exit code the process's."""

import sys

import pytest


def test_running_the_package_runs_the_command_line_and_exits_with_its_code(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench", "list", "protocols"])
    monkeypatch.delitem(sys.modules, "bench.__main__", raising=False)
    with pytest.raises(SystemExit) as info:
        import bench.__main__  # noqa: F401  (running it is importing it)
    assert info.value.code == 0 and "clr-90" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["bench", "list", "no-such-kind"])
    monkeypatch.delitem(sys.modules, "bench.__main__", raising=False)  # a failed import leaves none
    with pytest.raises(SystemExit) as info:
        import bench.__main__  # noqa: F401,F811
    assert info.value.code == 2
