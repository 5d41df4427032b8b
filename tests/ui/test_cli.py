"""The `bench` command line: end-to-end runs on the default dataset and every bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from hypothesis import given, strategies as st

from bench import api
from bench.api import RunSpec
from bench.core import records
from bench.core.checkpoint import CHECKPOINT_EVERY
from bench.data import load_dataset
from bench.errors import BenchError
from bench.models import build_model
from bench.pruning import Target
from bench.ui.cli import _target, build_parser, main

from tests.helpers import fuzzing
from tests.helpers.fakedata import write_cifar
from tests.helpers.paths import HISTORIC_RECORD


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default runs/ and results/ land in the test's own folder


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def random_resnet20(tmp_path):
    """Dense weights for --checkpoint, so tests skip the 30-epoch dense training."""
    torch.manual_seed(0)
    path = tmp_path / "dense.pt"
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), path)
    return path


@pytest.mark.slow
def test_train_then_evaluate_reuses_the_cached_baseline_and_writes_a_valid_record(tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "results"
    code, stdout, _ = run_cli(capsys, "train", "--runs-dir", str(runs))
    assert code == 0 and "val top-1" in stdout
    (cache,) = (runs / "dense").iterdir()
    weights_mtime = (cache / "model.pt").stat().st_mtime_ns

    code, stdout, err = run_cli(
        capsys, "evaluate", "--adapter", "hrankplus", "--protocol", "clr-11", "--seeds", "2",
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


def test_evaluate_from_a_checkpoint_is_deterministic(tmp_path, capsys, random_resnet20):
    paths = []
    for name in ("a", "b"):
        code, _, err = run_cli(
            capsys, "evaluate", "--adapter", "global-magnitude", "--protocol", "ft-1", "--seeds", "1",
            "--ratio", "0.6", "--checkpoint", str(random_resnet20), "--out", str(tmp_path / name),
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


def test_evaluate_cifar10_pfec_b_starts_when_the_data_is_present(tmp_path, capsys):
    write_cifar(tmp_path / "data", per_file=8)
    torch.manual_seed(0)
    ckpt = tmp_path / "r56.pt"
    torch.save(build_model("resnet56", num_classes=10, in_channels=3).state_dict(), ckpt)
    code, stdout, err = run_cli(
        capsys, "evaluate", "--adapter", "l1-norm", "--config", "resnet56-B", "--model", "resnet56",
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
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    if argv[0] == "validate":
        assert code == 1 and "no such file" in err
        return
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), err
    assert message in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


def test_unreadable_checkpoint_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    code, _, err = run_cli(capsys, "evaluate", "--adapter", "l1-norm", "--checkpoint", str(bad), "--out", str(tmp_path / "o"))
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


def test_prune_json_lists_params_flops_and_kept_channels(capsys):
    code, out, err = run_cli(capsys, "prune", "--adapter", "l1-norm", "--model", "resnet56", "--dataset", "cifar10",
                             "--config", "resnet56-A", "--json")
    assert code == 0 and "randomly initialized" in err
    report = json.loads(out)
    assert report["dense"]["params"] == 853_018
    assert report["pruned"]["params"] < report["dense"]["params"]
    assert report["structure"]["units"]["layer1.0.conv1"] == {"kept": 14, "total": 16}


def test_protocols_show_json_gives_every_step(tmp_path, capsys):
    plot = tmp_path / "clr.png"
    code, out, _ = run_cli(capsys, "protocols", "show", "clr-40", "--dataset", "cifar10", "--steps-per-epoch", "704",
                           "--json", "--plot", str(plot))
    assert code == 0
    shown = json.loads(out)
    assert len(shown["lr"]) == 40 * 704
    assert shown["lr"][0] == pytest.approx(0.001) and max(shown["lr"]) == pytest.approx(0.1)
    assert shown["protocol"]["lr_min"] == pytest.approx(0.001)
    assert plot.stat().st_size > 1000


@pytest.mark.parametrize("kind, expected", [("adapters", "hrankplus"), ("protocols", "clr-90"), ("models", "resnet56"), ("datasets", "digits")])
def test_list(capsys, kind, expected):
    code, out, _ = run_cli(capsys, "list", kind)
    assert code == 0 and expected in out


def test_validate_names_the_failing_field(tmp_path, capsys, example_record):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(example_record))
    example_record["method"]["top1_mean"] = 250.0
    bad.write_text(json.dumps(example_record))
    code, out, err = run_cli(capsys, "validate", str(good), str(bad))
    assert code == 1 and "ok" in out and "method/top1_mean" in err


@pytest.mark.parametrize("flag", ["--out", "--runs-dir"])
def test_unwritable_output_fails_before_any_training(tmp_path, capsys, flag):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run_cli(capsys, "evaluate", "--adapter", "l1-norm", flag, str(blocker / "sub"))
    assert code == 2 and "cannot write to" in err and len(err.strip().splitlines()) == 1


def test_perf_prints_a_ratio_against_its_baseline(capsys):
    """No timing assertion here (this machine is noisy): the targets live in `bench perf` itself."""
    code, out, _ = run_cli(capsys, "perf", "--only", "data")
    assert code in (0, 1)
    assert "tensor pipeline ÷ DataLoader + PIL" in out and "target ≥ 10" in out and "batches/s" in out


def test_perf_limit_is_the_training_rate_as_a_fraction_of_the_matmul_peak(monkeypatch):
    """No timing assertion (this machine is noisy): the fraction is computed from its parts, which are
    checked here on a fixed peak; the command prints it for both models."""
    from bench.data import load_dataset
    from bench.ui import limit

    found = limit.training_limit("resnet20", load_dataset("digits"), 64, 2, peak=1e12)
    assert found.fraction == pytest.approx(found.images_per_second * found.flops_per_image / 1e12)
    # 3 passes × 2 FLOPs per multiply-add × fvcore's 10,159,744 multiply-adds of ResNet-20 on 16×16 digits
    assert found.flops_per_image == 3 * 2 * 10_159_744
    assert 0 < found.fraction < 1 and "of peak" in found.line()
    assert limit.matmul_peak(n=256, repeats=2) > 0


def test_validate_recounts_the_model_from_the_stored_structure(tmp_path, capsys, example_record):
    """A record whose counts agree with each other but not with its own pruned structure is refused."""
    import copy

    forged = copy.deepcopy(example_record)
    method, dense = forged["method"], forged["dense"]
    method["params"] -= 1000  # and the reduction to match, so only the model can tell
    method["params_reduction_pct"] = round(100.0 * (1 - method["params"] / dense["params"]), 4)
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    code, _, err = run_cli(capsys, "validate", str(path))
    assert code == 1 and "method/params" in err and "its stored structure gives" in err


def test_validate_checks_the_run_id_against_the_records_own_spec(tmp_path, capsys):
    from bench.api import RunSpec

    record = json.loads(HISTORIC_RECORD.read_text())
    record["spec"] = RunSpec(adapter="hrankplus", threads=1).to_dict()  # another run's spec
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    code, _, err = run_cli(capsys, "validate", str(path))
    assert code == 1 and "is not the hash of the record's own spec" in err


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
