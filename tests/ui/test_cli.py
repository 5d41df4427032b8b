"""The `bench` command line (bench/ui/cli.py): end-to-end runs on the default dataset, every bad input a one-line
error before anything is trained or written, and fuzzed command lines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from hypothesis import given, strategies as st

from bench import api
from bench.api import RunSpec
from bench.core import records, shipped
from bench.core.checkpoint import CHECKPOINT_EVERY
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target
from bench.ui.cli import main
from bench.ui.parser import build_parser
from bench.ui.spec_flags import target_from as _target

from tests.helpers import fuzzing
from tests.helpers.fakedata import write_cifar


pytestmark = pytest.mark.usefixtures("work_in_tmp")  # default runs/ and results/ land in the test's own folder


@pytest.mark.slow
def test_train_then_evaluate_reuses_the_cached_baseline_and_writes_a_valid_record(tmp_path, cli):
    runs, out = tmp_path / "runs", tmp_path / "results"
    code, stdout, _ = cli("train", "--runs-dir", str(runs))
    assert code == 0 and "val top-1" in stdout
    (cache,) = (runs / "dense").iterdir()
    weights_mtime = (cache / "model.pt").stat().st_mtime_ns

    code, stdout, err = cli(
        "evaluate", "--adapter", "hrankplus", "--protocol", "clr-11", "--seeds", "2",
        "--runs-dir", str(runs), "--out", str(out),
    )
    assert code == 0, err
    assert "reusing cached dense" in err
    assert (cache / "model.pt").stat().st_mtime_ns == weights_mtime
    assert "hrankplus (method)" in stdout and "random (random control)" in stdout and "±" in stdout
    (path,) = out.rglob("*.json")
    record = records.read(path)
    assert record["seeds"] == [0, 1] and record["protocol"]["name"] == "clr-11"
    assert record["dense"]["source"] == "trained" and record["dense"]["test_top1"] > 80
    method, control = record["method"], record["random_control"]
    assert method["structure"] == control["structure"] and method["flops"] == control["flops"]
    assert method["flops"] < record["dense"]["flops"]
    assert [len(r["curve"]) for r in method["runs"]] == [2, 2]
    assert record["environment"]["torch"] == torch.__version__


@pytest.mark.slow  # two whole evaluations (14 s): CI runs it, the contributors' fast lane does not
def test_evaluate_from_a_checkpoint_is_deterministic(tmp_path, cli, dense_weights):
    paths = []
    for name in ("a", "b"):
        code, _, err = cli("evaluate", "--adapter", "global-magnitude", "--protocol", "ft-1", "--seeds", "1",
            "--ratio", "0.6", "--checkpoint", str(dense_weights), "--out", str(tmp_path / name),
            "--runs-dir", str(tmp_path / f"runs-{name}"),  # separate caches: nothing is reused
        )
        assert code == 0, err
        (path,) = (tmp_path / name).rglob("*.json")
        paths.append(records.read(path))
    a, b = paths
    assert a["dense"]["source"] == "checkpoint"
    assert a["method"]["runs"][0]["top1"] == b["method"]["runs"][0]["top1"]
    assert a["method"]["runs"][0]["curve"] == b["method"]["runs"][0]["curve"]
    assert a["random_control"]["runs"][0]["curve"] == b["random_control"]["runs"][0]["curve"]
    units = a["method"]["structure"]["units"]
    assert a["method"]["structure"]["kind"] == "unstructured"
    density = sum(u["kept"] for u in units.values()) / sum(u["total"] for u in units.values())
    assert abs(density - 0.4) < 1e-3


@pytest.mark.slow  # a CIFAR ResNet-56 evaluation's first steps (24 s)
def test_evaluate_cifar10_pfec_b_starts_when_the_data_is_present(tmp_path, cli):
    write_cifar(tmp_path / "data", per_file=8)
    torch.manual_seed(0)
    ckpt = tmp_path / "r56.pt"
    torch.save(build_model("resnet56", num_classes=10, in_channels=3).state_dict(), ckpt)
    code, stdout, err = cli(
        "evaluate", "--adapter", "l1-norm", "--config", "resnet56-B", "--model", "resnet56",
        "--dataset", "cifar10", "--protocol", "ft-2", "--seeds", "1", "--data-root", str(tmp_path / "data"),
        "--checkpoint", str(ckpt), "--out", str(tmp_path / "out"),
    )
    assert code == 0, err
    (path,) = (tmp_path / "out").rglob("*.json")
    record = records.read(path)
    assert record["target"]["config"] == "resnet56-B"
    assert record["method"]["flops_reduction_pct"] == pytest.approx(27.47, abs=0.1)  # PFEC reports 27.6%


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "--adapter", "hrankplu"], "did you mean 'hrankplus'"),
        (["evaluate", "--adapter", "l1-norm", "--protocol", "clr90"], "did you mean 'clr-90'"),
        (["evaluate", "--adapter", "l1-norm", "--model", "resnet65"], "unknown model 'resnet65'"),
        (["evaluate", "--adapter", "l1-norm", "--dataset", "cifar11"], "did you mean 'cifar10'"),
        (["evaluate", "--adapter", "l1-norm", "--ratio", "1.5"], "(0, 1)"),
        (["evaluate", "--adapter", "l1-norm", "--ratio", "0"], "(0, 1)"),
        (["evaluate", "--adapter", "l1-norm", "--compress-rate", "[0.1]*x"], "not a rate list"),
        (["evaluate", "--adapter", "l1-norm", "--compress-rate", "[0.1]*3"], "block-internal layout takes 9"),
        (["evaluate", "--adapter", "l1-norm", "--dataset", "cifar10", "--data-root", "/nonexistent"], "cifar-10-batches-py"),
        (["evaluate", "--adapter", "l1-norm", "--protocol", "lrw-200"], "only 30"),
        (["evaluate", "--adapter", "l1-norm", "--hp", "bogus=1"], "bad --hp"),
        (["evaluate", "--adapter", "l1-norm", "--seeds", "0,0"], "distinct"),
        (["evaluate", "--adapter", "l1-norm", "--ratio", "0.5", "--config", "resnet56-B"], "not allowed with"),
        (["evaluate"], "--adapter"),
        (["prune", "--adapter", "l1-norm", "--config", "resnet56-B"], "defined for model 'resnet56'"),
        (["protocols", "show", "scratch-b", "--steps-per-epoch", "10"], "flops"),
        (["validate", "/nonexistent.json"], None),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, cli, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(*argv)
    if argv[0] == "validate":
        assert code == 1 and "no such file" in err
        return
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), err
    assert message in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


def test_unreadable_checkpoint_is_one_line(tmp_path, cli):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    code, _, err = cli("evaluate", "--adapter", "l1-norm", "--checkpoint", str(bad), "--out", str(tmp_path / "o"))
    assert code == 2 and "cannot read checkpoint" in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "o").glob("*"))  # no record, not even a temp file


def test_real_process_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "evaluate", "--adapter", "nope"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "unknown adapter 'nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_prune_json_lists_params_flops_and_kept_channels(cli):
    code, out, err = cli("prune", "--adapter", "l1-norm", "--model", "resnet56", "--dataset", "cifar10",
                             "--config", "resnet56-A", "--json")
    assert code == 0 and "randomly initialized" in err
    report = json.loads(out)
    assert report["dense"]["params"] == 853_018
    assert report["pruned"]["params"] < report["dense"]["params"]
    assert report["structure"]["units"]["layer1.0.conv1"] == {"kept": 14, "total": 16}


def test_protocols_show_json_gives_every_step(tmp_path, cli):
    plot = tmp_path / "clr.png"
    code, out, _ = cli("protocols", "show", "clr-40", "--dataset", "cifar10", "--steps-per-epoch", "704",
                           "--json", "--plot", str(plot))
    assert code == 0
    shown = json.loads(out)
    assert len(shown["lr"]) == 40 * 704
    assert shown["lr"][0] == pytest.approx(0.001) and max(shown["lr"]) == pytest.approx(0.1)
    assert shown["protocol"]["lr_min"] == pytest.approx(0.001)
    assert plot.stat().st_size > 1000


@pytest.mark.parametrize("kind, expected", [("adapters", "hrankplus"), ("protocols", "clr-90"), ("models", "resnet56"), ("datasets", "digits")])
def test_list(cli, kind, expected):
    code, out, _ = cli("list", kind)
    assert code == 0 and expected in out


def test_validate_names_the_failing_field(tmp_path, cli, example_record):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(example_record))
    example_record["method"]["top1_mean"] = 250.0
    bad.write_text(json.dumps(example_record))
    code, out, err = cli("validate", str(good), str(bad))
    assert code == 1 and "ok" in out and "method/top1_mean" in err


@pytest.mark.parametrize("flag", ["--out", "--runs-dir"])
def test_unwritable_output_fails_before_any_training(tmp_path, cli, flag):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = cli("evaluate", "--adapter", "l1-norm", flag, str(blocker / "sub"))
    assert code == 2 and "cannot write to" in err and len(err.strip().splitlines()) == 1


def test_cli_passes_compile_and_checkpoint_interval(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_evaluate(spec, execution, reporter=None, stop=None):
        seen["spec"], seen["execution"] = spec, execution
        raise BenchError("stop here")

    monkeypatch.setattr(api, "evaluate", fake_evaluate)
    monkeypatch.setattr("bench.infra.environment.compile_problem", lambda device: None)  # compile usable here
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--adapter", "l1-norm", "--compile", "--checkpoint-every", "5"]) == 2
    assert seen["spec"].compile is True and seen["execution"].checkpoint_every == 5.0
    assert main(["evaluate", "--adapter", "l1-norm", "--threads", "1"]) == 2
    assert seen["spec"].compile is False and seen["execution"].checkpoint_every == CHECKPOINT_EVERY
    assert seen["spec"].threads == 1 and seen["spec"].hash != RunSpec(adapter="l1-norm", threads=2).hash
    assert seen["spec"].memory_format == "channels_last"
    assert main(["evaluate", "--adapter", "l1-norm", "--threads", "1", "--memory-format", "contiguous"]) == 2
    assert seen["spec"].memory_format == "contiguous"
    assert main(["evaluate", "--adapter", "l1-norm", "--checkpoint-every", "-1"]) == 2
    assert "number of seconds" in capsys.readouterr().err


def test_cli_refuses_grouped_convolutions_in_one_line(capsys):
    code = main(["prune", "--adapter", "l1-norm", "--model", "timm:regnetx_002", "--dataset", "cifar10"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("bench: error: structured pruning does not support grouped convolutions") and err.count("\n") == 1


# --- fuzzing ----------------------------------------------------------------------------------------------

flags = st.sampled_from(["--ratio", "--compress-rate", "--config", "--seeds", "--hp", "--model", "--protocol", "--adapter", "--dataset", "--split-seed", "--device"])
arg_values = st.one_of(st.text(max_size=12), st.sampled_from(["0.5", "1.5", "-1", "nan", "3", "0,1", "[0.1]*3", "resnet56-B", "l1-norm", "x=1"]))


@fuzzing.FUZZ
@given(st.lists(st.one_of(flags, arg_values), max_size=10))
def fuzz_cli_args(argv):
    """Parsing plus target/seed interpretation: everything `bench evaluate` does before any work."""
    fuzzing.count("cli_args")
    try:
        args = build_parser().parse_args(["evaluate", *argv])
        target = _target(args)
    except BenchError:
        return
    except SystemExit as exc:  # only --help/--version may exit, and they are not generated here
        pytest.fail(f"argparse exited with {exc.code} for {argv!r}")
    # What parsed is one valid target, the one the flags asked for, and it reads back from a record.
    assert isinstance(target, Target) and Target.from_dict(json.loads(json.dumps(target.to_dict()))) == target
    if args.compress_rate is not None:
        assert target.compress_rate is not None and all(0.0 <= r < 1.0 for r in target.compress_rate)
    elif args.config is not None:
        assert target.config == args.config
    else:
        assert target.ratio == (0.5 if args.ratio is None else args.ratio) and 0 < target.ratio < 1


def test_malformed_command_lines_never_crash():
    fuzzing.run("cli_args", fuzz_cli_args)


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


@pytest.mark.parametrize("argv, message", [
    (["--split-seed", "-1"], "--split-seed: must be a non-negative integer"),
    (["--dense-seed", "-1"], "--dense-seed: must be a non-negative integer"),
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
