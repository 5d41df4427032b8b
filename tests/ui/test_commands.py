"""What each `bench` subcommand does and prints (bench/ui/commands.py), through `bench.ui.cli.main` and by
calling a command with the arguments the parser builds."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.core.protocols import list_protocols, load_protocol
from bench.core.records import VERIFICATION_SUFFIX
from bench.errors import BenchError
from bench.models import MODELS
from bench.pruning.registry import adapter_names
from bench.ui import commands
from bench.ui.cli import main
from bench.ui.parser import build_parser

from tests.helpers.paths import HISTORIC_RECORD


def run(capsys, *argv: str) -> tuple[int, list[str], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def args(*argv: str):
    return build_parser().parse_args(list(argv))


# --- bench list ---------------------------------------------------------------------------------------


def test_list_adapters_gives_each_ones_kind_paper_hyperparameters_layout_and_configs(capsys):
    code, lines, err = run(capsys, "list", "adapters")
    assert code == 0 and err == ""
    assert [line.split()[0] for line in lines] == adapter_names()
    l1 = next(line for line in lines if line.startswith("l1-norm "))
    assert l1.split()[1] == "structured" and "Li et al. 2017 (PFEC)" in l1
    assert "hparams: -" in l1 and "layout: block-internal" in l1 and "configs: resnet56-A, resnet56-B" in l1
    magnitude = next(line for line in lines if line.startswith("global-magnitude "))
    assert magnitude.split()[1] == "unstructured" and "layout:" not in magnitude and "configs:" not in magnitude
    assert "hparams: calibration_batches=5, batch_size=128" in next(line for line in lines if line.startswith("hrankplus "))


def test_list_protocols_models_and_datasets_each_say_what_else_resolves(capsys):
    code, lines, _ = run(capsys, "list", "protocols")
    assert code == 0 and lines == [*list_protocols(), "(any ft-N, lrw-N, slr-N or clr-N also resolves)"]
    code, lines, _ = run(capsys, "list", "models")
    assert code == 0 and lines[:-1] == MODELS.names() and "timm:<name>" in lines[-1]
    code = commands.cmd_list(args("list", "datasets"))  # the command itself, as the parser hands it over
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and lines[0].split()[0] == "cifar10" and any(line.split()[0] == "digits" for line in lines)


# --- bench protocols ------------------------------------------------------------------------------------


def test_protocols_list_describes_every_shipped_protocol(capsys):
    code, lines, _ = run(capsys, "protocols", "list")
    assert code == 0 and len(lines) == len(list_protocols())
    for name, line in zip(list_protocols(), lines):
        assert line.split(None, 1) == [name, load_protocol(name).description]


def test_protocols_show_prints_the_resolved_fields_and_the_lr_at_its_ends(capsys):
    code, lines, _ = run(capsys, "protocols", "show", "clr-40", "--dataset", "cifar10", "--steps-per-epoch", "10")
    assert code == 0
    fields = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in lines}
    assert fields["name"] == "clr-40" and fields["epochs"] == "40" and fields["schedule"] == "clr"
    assert fields["total_steps"] == "400 (10 per epoch)"
    assert lines[-1] == "lr first/peak/last 0.001 / 0.1 / 0.001"


def test_protocols_show_refuses_what_it_cannot_show(monkeypatch, capsys, tmp_path):
    with pytest.raises(BenchError, match="--steps-per-epoch must be at least 1"):
        commands.cmd_protocols(args("protocols", "show", "ft-40", "--steps-per-epoch", "0"))
    monkeypatch.setattr(commands, "MAX_JSON_STEPS", 100)
    plot = tmp_path / "ft.svg"
    with pytest.raises(BenchError, match=r"400 steps are too many to print as JSON \(at most 100\); --plot draws them"):
        commands.cmd_protocols(args("protocols", "show", "ft-40", "--dataset", "cifar10", "--steps-per-epoch", "10",
                                    "--json", "--plot", str(plot)))
    assert plot.read_text().lstrip().startswith("<?xml")  # the plot does not depend on the JSON's size
    assert capsys.readouterr().out == ""
    code, _, err = run(capsys, "protocols", "show", "ft-40", "--steps-per-epoch", "0")
    assert code == 2 and err == "bench: error: --steps-per-epoch must be at least 1\n"


# --- bench validate -------------------------------------------------------------------------------------


def test_validate_checks_records_and_skips_verification_files(tmp_path, capsys):
    good = tmp_path / "r.json"
    shutil.copyfile(HISTORIC_RECORD, good)
    beside = tmp_path / f"r{VERIFICATION_SUFFIX}"
    beside.write_text("{}")  # `bench verify`'s file: not a record, and never reported as a bad one
    code, lines, err = run(capsys, "validate", str(good), str(beside))
    assert code == 0 and lines == [f"ok    {good}"] and err == ""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(HISTORIC_RECORD.read_text()), "model": ""}))
    code = commands.cmd_validate(args("validate", str(good), str(bad)))
    out, err = capsys.readouterr()
    assert code == 1 and out == f"ok    {good}\n" and err.startswith("FAIL  ") and str(bad) in err


# --- bench new-adapter -----------------------------------------------------------------------------------


def test_new_adapter_writes_the_module_and_says_what_to_do_next(tmp_path, capsys):
    code, lines, _ = run(capsys, "new-adapter", "l3-norm", "--out", str(tmp_path))
    written = tmp_path / "l3_norm.py"
    assert code == 0 and written.is_file() and "l3-norm" in written.read_text()
    assert any(str(written) in line for line in lines) and any("1." in line for line in lines)
    code, _, err = run(capsys, "new-adapter", "l1-norm", "--out", str(tmp_path))
    assert code == 2 and "adapter 'l1-norm' is already registered" in err
