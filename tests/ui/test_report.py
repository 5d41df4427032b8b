"""What a user reads in the terminal: the result in words, progress under a pipe, no overwritten pages,
`bench prune` on real dense weights."""

from __future__ import annotations

import io
import json
import re

import pytest

from bench.core import shipped
from bench.infra.progress import LineReporter, RichReporter, for_terminal
from bench.ui.cli import main
from bench.ui.report import evaluation_table, result_lines


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _record(example_record, method, control):
    r = json.loads(json.dumps(example_record))
    for arm, values in ((r["method"], method), (r["random_control"], control)):
        arm["runs"] = [dict(arm["runs"][0], seed=i, top1=v) for i, v in enumerate(values)]
    r["seeds"] = list(range(len(method)))
    return r


def test_the_result_is_a_paired_interval_and_a_verdict_in_words(example_record):
    tied = result_lines(_record(example_record, [99.0, 98.5, 99.2], [98.9, 98.8, 99.0]))
    assert re.match(r"hrankplus minus its random control: \+0\.00 points, paired 95% interval \[-\d\.\d\d, \+\d\.\d\d\] "
                    r"over 3 seeds: tied", tied[0])
    assert tied[1] == "One test example of digits is worth 0.28 points of top-1 (360 test images)."
    beats = result_lines(_record(example_record, [99.0, 98.9, 99.2], [97.0, 96.8, 97.1]))
    assert "the method beats its random control" in beats[0]
    table = evaluation_table(_record(example_record, [99.0, 98.9, 99.2], [97.0, 96.8, 97.1]))
    assert "the retraining schedule, its version, and the epochs it trains" in table and "best-validation epoch" in table


def test_progress_under_a_pipe_is_timestamped_lines_at_once():
    stream = io.StringIO()
    reporter = LineReporter(stream, clock=iter(range(100)).__next__)
    reporter.plan(4)

    class Log:
        epoch, train_loss, val_top1 = 0, 0.5, 97.5

    with reporter.task("l1-norm seed 0", 2) as on_epoch:
        on_epoch(Log)
    lines = stream.getvalue().splitlines()
    assert re.match(r"\d\d:\d\d:\d\d l1-norm seed 0: training 2 epochs$", lines[0])
    assert re.match(r"\d\d:\d\d:\d\d l1-norm seed 0: epoch 1/2 loss 0.5000 val top-1 97.50% \(all runs: 1/4 epochs, ETA 0:00:0\d\)$",
                    lines[1])
    assert isinstance(for_terminal(io.StringIO()), LineReporter)


def test_a_terminal_gets_bars():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(for_terminal(Tty()), RichReporter)


def test_leaderboard_of_another_folder_never_replaces_the_committed_pages(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    (tmp_path / "leaderboard").mkdir()
    (tmp_path / "leaderboard" / "README.md").write_text("committed pages")
    assert main(["leaderboard", "--submissions", "results"]) == 2
    err = capsys.readouterr().err
    assert "needs its own --out" in err and err.count("\n") == 1
    assert (tmp_path / "leaderboard" / "README.md").read_text() == "committed pages"
    assert main(["leaderboard", "--submissions", "results", "--out", "mine"]) == 0


@pytest.mark.slow
def test_prune_uses_the_cached_dense_baseline_else_the_shipped_one(tmp_path, capsys, monkeypatch):
    import dataclasses

    from bench.evaluation import dense as dense_module

    code = main(["prune", "--adapter", "l1-norm", "--speedup", "2", "--json"])
    assert code == 0
    assert f"pruned the shipped reference checkpoint: {shipped.for_run('resnet20', 'digits', 'l1-norm').path}" in capsys.readouterr().err
    real = dense_module.recipe_spec
    monkeypatch.setattr(dense_module, "recipe_spec", lambda data: dataclasses.replace(real(data), epochs=1))
    assert main(["train"]) == 0
    capsys.readouterr()
    assert main(["prune", "--adapter", "l1-norm", "--ratio", "0.5", "--json"]) == 0
    err = capsys.readouterr().err
    assert "pruned the cached dense baseline: runs/dense/digits-resnet20-" in err
    assert main(["prune", "--adapter", "l1-norm", "--model", "resnet32", "--json"]) == 0
    err = capsys.readouterr().err
    assert "randomly initialized" in err and "`bench train --model resnet32 --dataset digits`" in err


def test_a_local_build_links_the_record_files_and_the_repository_the_sources(tmp_path, example_record):
    from tests.leaderboard.test_leaderboard import make, put

    from bench.leaderboard import generate

    put(tmp_path / "results", "a.json", make(example_record, adapter="alpha", module="bench.adapters.l1_norm"))
    generate(tmp_path / "results", tmp_path / "pages")
    page = (tmp_path / "pages" / "README.md").read_text()
    assert (tmp_path / "results" / "a.json").resolve().as_uri() in page
    assert "https://github.com/prunebench/prunebench/blob/main/adapters/l1_norm.py" in page
    exported = json.loads((tmp_path / "pages" / "leaderboard.json").read_text())
    assert exported["records_url"] == (tmp_path / "results").resolve().as_uri() + "/"


@pytest.mark.parametrize("argv, message", [
    (["--protocol", "clr-99999999999999999999"], "epochs must be between 1 and 10,000"),
    (["--protocol", "clr-20000"], "epochs must be between 1 and 10,000"),
    (["--seeds", "1000000000"], "at most 1000 seeds"),
])
def test_oversized_inputs_are_refused_before_anything_is_allocated(capsys, argv, message):
    """Bounded before use: a schedule's length and a run's seeds (the LR of every step and the seed
    list are built from them)."""
    assert main(["evaluate", "--adapter", "l1-norm", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_grid_with_too_many_seeds_or_epochs_is_refused(tmp_path):
    from bench.errors import BenchError
    from bench.sweep.grid import parse_grid

    with pytest.raises(BenchError, match="need 1 to 1000 seeds"):
        parse_grid('seeds = 100000000\n[[adapters]]\nname = "l1-norm"\n', source=tmp_path / "g.toml")
    with pytest.raises(BenchError, match="epochs must be between"):
        parse_grid('protocols = ["clr-99999999999"]\n[[adapters]]\nname = "l1-norm"\n', source=tmp_path / "g.toml")


@pytest.mark.parametrize("argv, message", [
    (["--split-seed", "-1"], "--split-seed must be a non-negative integer"),
    (["--dense-seed", "-1"], "--dense-seed must be a non-negative integer"),
    (["--adapter", "hrankplus", "--hp", "calibration_batches=-1"], "calibration batches and batch size must be positive"),
    (["--checkpoint", "/dev/zero"], "is not a regular file"),
])
def test_bad_inputs_fail_before_the_dense_baseline_trains(tmp_path, capsys, argv, message):
    argv = argv if "--adapter" in argv else ["--adapter", "l1-norm", *argv]
    assert main(["evaluate", *argv, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "runs" / "dense").exists()  # nothing was trained


def test_validate_rejects_what_the_leaderboard_would(tmp_path, capsys, example_record):
    record = json.loads(json.dumps(example_record))
    record["adapter"]["paper"] = "<Authors year>"  # the guide's old placeholder: markup to the leaderboard
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    assert main(["validate", str(path)]) == 1
    assert "adapter/paper: contains HTML/script markup" in capsys.readouterr().err
