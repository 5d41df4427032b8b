"""The defaults of a run (bench/defaults.py), in one place: RunSpec's fields, the CLI's flags and a sweep grid's
keys all start from them, so the same run asked for three ways is one run."""

import subprocess
import sys

from bench import defaults
from bench.evaluation.spec import RunSpec
from bench.pruning import Target
from bench.sweep.grid import parse_grid
from bench.ui.cli import build_parser


def test_the_api_the_command_line_and_a_grid_start_from_the_same_run(tmp_path):
    spec = RunSpec(adapter="l1-norm", threads=1)
    assert (spec.model, spec.dataset, spec.split_seed, spec.protocol, spec.seeds, spec.target) == (
        defaults.MODEL, defaults.DATASET, defaults.SPLIT_SEED, defaults.PROTOCOL, defaults.SEEDS, Target(ratio=defaults.RATIO))
    assert (spec.random_control, spec.iterations, spec.dense_seed, spec.memory_format) == (
        defaults.RANDOM_CONTROL, defaults.ITERATIONS, defaults.DENSE_SEED, defaults.MEMORY_FORMAT)
    args = build_parser().parse_args(["evaluate", "--adapter", "l1-norm"])
    assert (args.model, args.dataset, args.split_seed, args.protocol, tuple(args.seeds), args.dense_seed, args.iterations) == (
        defaults.MODEL, defaults.DATASET, defaults.SPLIT_SEED, defaults.PROTOCOL, defaults.SEEDS, defaults.DENSE_SEED,
        defaults.ITERATIONS)
    assert (args.runs_dir, args.out, args.memory_format) == (defaults.RUNS_DIR, defaults.RECORDS_DIR, defaults.MEMORY_FORMAT)
    (run,) = parse_grid('[[adapters]]\nname = "l1-norm"\n', source=tmp_path / "g.toml").with_threads(1).runs
    assert run.spec == spec and run.hash == spec.hash


def test_reading_the_defaults_imports_nothing_else():
    """`bench --help` reads them: importing them must stay instant."""
    code = "import sys, bench.defaults; print(sorted(m for m in sys.modules if m.startswith('bench')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['bench', 'bench.defaults']"
    assert defaults.MEMORY_FORMAT in defaults.MEMORY_FORMATS and 1 <= len(defaults.SEEDS) <= defaults.MAX_SEEDS
