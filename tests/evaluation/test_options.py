"""Every option of a run's specification exists in every front end: a `bench evaluate` flag, a sweep
file key, RunSpec's check, and the run identity. A new option gets all four from its one line in
RUN_OPTIONS; this test holds that promise for each (add its sample value below)."""

from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.evaluation.options import RUN_OPTIONS
from bench.evaluation.spec import RunSpec
from bench.sweep.grid import parse_grid
from bench.ui.parser import build_parser
from bench.ui.spec_flags import spec_fields

# A value other than the default, as a flag's text and as a TOML value, and what the spec then holds.
SAMPLES = {
    "layout": ("block-internal", '"block-internal"', "block-internal"),
    "model": ("resnet32", '"resnet32"', "resnet32"),
    "dataset": ("cifar10", '"cifar10"', "cifar10"),
    "split_seed": ("7", "7", 7),
    "protocol": ("ft-1", '"ft-1"', "ft-1"),
    "seeds": ("2", "[1, 0]", (0, 1)),
    "random_control": (None, "false", False),
    "allocation_control": (None, "true", True),
    "iterations": ("2", "2", 2),
    "dense_seed": ("3", "3", 3),
    "compile": (None, "true", True),
    "memory_format": ("contiguous", '"contiguous"', "contiguous"),
    "precision": ("bf16", '"bf16"', "bf16"),
}
GENERIC = [name for name, o in RUN_OPTIONS.items() if not o.custom]


def test_every_generic_option_has_a_sample():
    assert sorted(SAMPLES) == sorted(GENERIC)


@pytest.mark.parametrize("name", GENERIC)
def test_an_option_is_a_flag_a_sweep_key_and_part_of_the_run_identity(name, tmp_path):
    opt, (text, toml, value) = RUN_OPTIONS[name], SAMPLES[name]
    args = build_parser().parse_args(["evaluate", "--adapter", "l1-norm", opt.flag, *([text] if text else [])])
    assert spec_fields(args)[name] == value
    grid = parse_grid(f'threads = 1\n{opt.key} = {toml}\n[[adapters]]\nname = "l1-norm"\n', source=tmp_path / "g.toml")
    assert [getattr(r.spec, name) for r in grid.runs] == [value]
    base = RunSpec(adapter="l1-norm", threads=1)
    assert RunSpec(adapter="l1-norm", threads=1, **{name: value}).hash != base.hash


@pytest.mark.parametrize("name", [n for n in GENERIC if RUN_OPTIONS[n].choices])
def test_a_value_outside_an_options_choices_is_refused_by_every_front_end(name, tmp_path, capsys):
    from bench.ui.cli import main

    opt = RUN_OPTIONS[name]
    assert main(["evaluate", "--adapter", "l1-norm", opt.flag, "nope", "--out", str(tmp_path)]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    with pytest.raises(BenchError, match=f"{opt.key}: must be one of"):
        parse_grid(f'{opt.key} = "nope"\n[[adapters]]\nname = "l1-norm"\n', source=tmp_path / "g.toml")
    with pytest.raises(BenchError, match=f"{opt.flag}: must be one of"):
        RunSpec(adapter="l1-norm", threads=1, **{name: "nope"})


def test_the_options_table_and_the_spec_fields_agree():
    """RUN_OPTIONS lists exactly RunSpec's user-set fields, in its order (the flags' and keys' order)."""
    fields = [f.name for f in RunSpec.__dataclass_fields__.values() if "option" in f.metadata]
    assert fields == list(RUN_OPTIONS)


def test_building_the_parser_imports_no_torch():
    """`bench --help` reads the options table without the spec, so it never waits for torch."""
    import subprocess
    import sys

    code = "import sys; from bench.ui.parser import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent)
    assert out.stdout.strip() == "False"


def test_a_chosen_precision_keys_the_dense_baseline_and_the_retraining_runs():
    """The worked example of docs/architecture.md: `precision` reaches the dense cache key and the
    environment every retraining run is keyed by, and a spec that does not choose one keeps its ids."""
    from bench.data import load_dataset
    from bench.evaluation.dense import dense_config

    digits_data = load_dataset("digits")
    assert dense_config("resnet20", digits_data, 0) == dense_config("resnet20", digits_data, 0, precision=None)
    assert dense_config("resnet20", digits_data, 0, precision="bf16")["precision"] == "bf16"
    chosen = RunSpec(adapter="l1-norm", threads=1, precision="bf16")
    assert chosen.environment_identity()["precision"] == "bf16"
    assert "precision" not in RunSpec(adapter="l1-norm", threads=1).environment_identity()


@pytest.mark.parametrize("fields, message", [
    ({"iterations": 101}, "at most 100 pruning steps"),
    ({"iterations": 0}, "must be >= 1"),
    ({"threads": 1025}, "--threads: between 1 and 1024"),
    ({"threads": 0}, "--threads: between 1 and 1024"),
    ({"seeds": 1001}, "at most 1000 seeds"),
])
def test_every_count_has_its_documented_cap_checked_when_the_spec_is_built(fields, message):
    """The caps of README's table, one error each before anything is built (here: the spec alone)."""
    with pytest.raises(BenchError, match=message):
        RunSpec(adapter="l1-norm", **{"threads": 1, **fields})
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "| pruning steps (`--iterations`) | 100 |" in readme and "| CPU threads (`--threads`) | 1,024 |" in readme


def test_calibration_is_capped_before_the_dense_baseline_trains():
    with pytest.raises(BenchError, match="at most 10,000 images"):
        RunSpec(adapter="hrankplus", threads=1, hparams=_hrank(calibration_batches=99_999_999_999))


def _hrank(**values):
    from bench.pruning import get_adapter

    return get_adapter("hrankplus").Hparams(**values)
