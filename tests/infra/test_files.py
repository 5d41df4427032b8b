"""Writing files so that a crash or a full disk never leaves a half-written one (bench/infra/files.py): output
folders checked up front, content staged beside its destination and renamed over it, the usual permissions,
and every failure one line naming the path."""

from __future__ import annotations

import errno
import os
import re

import pytest

from bench.errors import BenchError
from bench.infra import files


def test_write_atomic_writes_text_or_bytes_and_replaces_without_leaving_a_temp_file(tmp_path):
    path = tmp_path / "out" / "r.json"  # the folder is made
    assert files.write_atomic(path, "first\n") == path
    assert path.read_text() == "first\n"
    files.write_atomic(path, b"\x00second")
    assert path.read_bytes() == b"\x00second"
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp files left


def test_unwritable_folder_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BenchError, match="cannot write") as caught:
        files.write_atomic(blocker / "r.json", "x")
    assert str(blocker / "r.json") in str(caught.value) and "\n" not in str(caught.value)
    assert blocker.read_text() == ""


def test_written_files_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    mask = os.umask(0o022)
    try:
        path = files.write_atomic(tmp_path / "page.html", "x")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644  # a web server or another user can read the pages


def test_a_failed_rename_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old")
    tmp = files.stage(path, "new")
    assert tmp.parent == tmp_path and tmp.read_text() == "new" and path.read_text() == "old"  # staged, not published
    with pytest.raises(BenchError, match=r"cannot write .*missing"):
        files.publish(tmp, tmp_path / "missing" / "r.json")  # a destination folder that does not exist
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"] and path.read_text() == "old"


def test_a_full_disk_says_what_to_do():
    error = files.cannot_write("results/r.json", OSError(errno.ENOSPC, "No space left on device"))
    assert str(error) == "cannot write results/r.json: No space left on device; free some space, then rerun the same command"
    other = files.cannot_write("r.json", OSError(errno.EACCES, "Permission denied"))
    assert str(other) == "cannot write r.json: Permission denied"


def test_ensure_dir_makes_the_folder_and_refuses_one_it_cannot_write(tmp_path):
    folder = tmp_path / "a" / "b"
    assert files.ensure_dir(folder) == folder and folder.is_dir()
    assert list(folder.iterdir()) == []  # the write probe is gone
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BenchError, match=re.escape(f"cannot write to {blocker / 'sub'}: ")):
        files.ensure_dir(blocker / "sub")
