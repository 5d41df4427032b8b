"""The leaderboard as a whole (bench/leaderboard/__init__.py): `generate` and `check` from a submissions
folder, the command's errors, local builds linking their own record files, and never importing torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.leaderboard import generate

from tests.leaderboard.builders import make, put, put_mixed


# --- outputs -----------------------------------------------------------------------------------------


def test_check_passes_then_detects_edits_stale_pages_and_rejections(subs, example_record, cli):
    put_mixed(subs, example_record)
    out = str(subs.parent / "lb")
    assert cli("leaderboard", "--submissions", str(subs), "--out", out)[0] == 0
    code, stdout, err = cli("leaderboard", "--submissions", str(subs), "--out", out, "--check")
    assert (code, err) == (0, "") and "up to date" in stdout

    readme = Path(out) / "README.md"
    original = readme.read_bytes()
    readme.write_bytes(original[:-2] + b"X" + original[-1:])
    code, _, err = cli("leaderboard", "--submissions", str(subs), "--out", out, "--check")
    assert code == 1 and err.splitlines() == [f"stale: {out}/README.md"]
    readme.write_bytes(original)

    extra = Path(out) / "groups" / "old-group-0123456789.html"
    extra.write_text("old")
    code, _, err = cli("leaderboard", "--submissions", str(subs), "--out", out, "--check")
    assert code == 1 and err.splitlines() == [f"stale: {out}/groups/old-group-0123456789.html (no longer generated)"]
    assert cli("leaderboard", "--submissions", str(subs), "--out", out)[0] == 0
    assert not extra.exists()

    bad = make(example_record, adapter="bad")
    bad["dense"]["test_top1"] = 101.0
    put(subs, "bad.json", bad)
    assert cli("leaderboard", "--submissions", str(subs), "--out", out)[0] == 1
    code, _, err = cli("leaderboard", "--submissions", str(subs), "--out", out, "--check")
    assert code == 1 and err.splitlines() == [
        f"rejected: {subs}/bad.json: dense/test_top1: must be at most 100"
    ]


def test_empty_submissions_give_an_empty_leaderboard(subs, cli):
    (subs / "schema.json").write_text("{}")  # the schema is not a submission
    out = str(subs.parent / "lb")
    code, stdout, _ = cli("leaderboard", "--submissions", str(subs), "--out", out)
    assert code == 0 and "0 groups" in stdout
    assert "No submissions yet." in (Path(out) / "index.html").read_text()
    assert "No submissions yet." in (Path(out) / "README.md").read_text()
    assert json.loads((Path(out) / "leaderboard.json").read_text())["groups"] == []
    assert cli("leaderboard", "--submissions", str(subs), "--out", out, "--check")[0] == 0


def test_user_errors_exit_2(tmp_path, cli):
    code, _, err = cli("leaderboard", "--submissions", str(tmp_path / "nope"), "--out", str(tmp_path / "lb"))
    assert code == 2 and "does not exist" in err
    (tmp_path / "s").mkdir()
    code, _, err = cli("leaderboard", "--submissions", str(tmp_path / "s"), "--source-url", "javascript:alert(1)",
                       "--out", str(tmp_path / "lb"))
    assert code == 2 and "--source-url" in err and len(err.splitlines()) == 1


def test_output_inside_submissions_is_not_read_back(subs, example_record, cli):
    put(subs, "a.json", make(example_record))
    out = str(subs / "site")
    assert cli("leaderboard", "--submissions", str(subs), "--out", out)[0] == 0
    assert cli("leaderboard", "--submissions", str(subs), "--out", out, "--check")[0] == 0
    code, _, err = cli("leaderboard", "--submissions", str(subs), "--out", str(subs.parent))
    assert code == 2 and "must not be (or contain) the submissions folder" in err


# --- boundaries --------------------------------------------------------------------------------------


def test_leaderboard_never_imports_torch_or_training_code(subs, example_record):
    put(subs, "a.json", make(example_record))
    code = f"""
import sys
import bench.leaderboard as lb
import bench.leaderboard.site, bench.leaderboard.html, bench.leaderboard.plots, bench.leaderboard.markdown
lb.generate({str(subs)!r}, {str(subs.parent / 'lb')!r})
bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'bench.api', 'bench.core.train',
             'bench.models', 'bench.pruning', 'bench.data')))
assert not bad, bad
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# --- the width-scaled dense model from scratch ------------------------------------------------------


def test_a_local_build_links_the_record_files_and_the_repository_the_sources(tmp_path, example_record):
    
    put(tmp_path / "results", "a.json", make(example_record, adapter="alpha", module="bench.adapters.l1_norm"))
    generate(tmp_path / "results", tmp_path / "pages")
    page = (tmp_path / "pages" / "README.md").read_text()
    assert (tmp_path / "results" / "a.json").resolve().as_uri() in page
    assert "https://github.com/prunebench/prunebench/blob/main/adapters/l1_norm.py" in page
    exported = json.loads((tmp_path / "pages" / "leaderboard.json").read_text())
    assert exported["records_url"] == (tmp_path / "results").resolve().as_uri() + "/"
