"""The whole command line fuzzed (hypothesis), as an adversarial contributor would drive it: command lines
of every subcommand, sweep grids and record files. Whatever the input, `bench` ends with its exit code
(0, or 2 for a usage error; `validate`, `verify` and `leaderboard` also say 1 for a record that fails),
at most one line on stderr, never a traceback, in bounded time and memory.

A command that accepts its input would then start work: the fuzz stops it where the data would load
(`_Reached`), after every check has run, and counts that as accepted. Slow lane: 10,000 cases in all.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import shutil
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.ui.cli import main
from bench.ui.parser import build_parser

from tests.helpers import fuzzing
from tests.helpers.paths import REPO

pytestmark = pytest.mark.slow

CASES = {"cli": 6000, "grid": 2000, "record": 2000}  # 10,000 in all
MAX_SECONDS = 20.0  # one case, whatever it is (a valid grid's dry run counts every run's preflight)
MAX_RSS_GB = 4.0  # the whole fuzzing process, torch and its models included
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
REFERENCE = next(p for p in sorted((REPO / "submissions" / "digits" / "resnet20").glob("*_speedup4_ft-40_*.json"))
                 if not p.name.endswith(".verification.json"))


class _Reached(Exception):
    """Raised where an accepted command would load its data and start computing."""


def _stop(*_args, **_kwargs):
    raise _Reached


def _flags() -> dict[str, list[str]]:
    """Every subcommand's own flags, read from the parser (so a new flag is fuzzed the day it is added)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001 (no public API)
    return {name: sorted(o for a in p._actions for o in a.option_strings if o.startswith("--") and o not in ("--help",))  # noqa: SLF001
            for name, p in sub.choices.items() if name != "perf"}  # `bench perf` times the machine: not an input


@pytest.fixture(scope="module")
def playground(tmp_path_factory) -> Path:
    """Files the fuzzed command lines name: a real record, a forged and a malformed one, a deep JSON, grids."""
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copyfile(REFERENCE, folder / "record.json")
    forged = json.loads(REFERENCE.read_text())
    forged["spec"]["protocol"] = "/etc/passwd"
    (folder / "forged.json").write_text(json.dumps(forged))
    (folder / "broken.json").write_text('{"run_id": ')
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "grid.toml").write_text('adapters = ["l1-norm"]\nprotocols = ["ft-1"]\nseeds = 1\n')
    (folder / "huge.toml").write_text('adapters = ["l1-norm"]\nprotocols = ["clr-99999999999"]\nseeds = 1000000000\n')
    (folder / "subs").mkdir()
    shutil.copyfile(REFERENCE, folder / "subs" / "r.json")
    return folder


VALUES = st.one_of(
    st.text(max_size=16),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.sampled_from([
        "0.5", "1.5", "-1", "nan", "inf", "1e308", "0", "1", "3", "16", "0,1", "0,0", "[0.1]*3", "0.1,0.2",
        "resnet20", "resnet56", "timm:resnet*", "vit_b_16", "digits", "cifar10", "imagenet", "l1-norm", "hrankplus",
        "sfp", "slimming", "random", "lamp", "ft-40", "clr-90", "scratch-b", "clr-99999999999", "x=1", "sparsity=nan",
        "calibration_batches=-1", "/dev/zero", "/etc/passwd", "record.json", "forged.json", "broken.json", "deep.json",
        "grid.toml", "huge.toml", "subs", "out", "cpu", "cuda", "cuda:9", "channels_last", "bf16", "100000", "", "-",
        "show", "list", "adapters", "protocols", "models", "datasets", "x)<img src=x onerror=alert(1)>",
    ]),
)


def _run(argv: list[str]) -> tuple[int, str, float]:
    """`bench ARGV` in this process: (exit code, stderr, seconds); an accepted command stops at _Reached."""
    threads = torch.get_num_threads()
    err, began = io.StringIO(), time.perf_counter()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except _Reached:
        code = 0
    except SystemExit as exc:  # --help, --version
        code = exc.code if isinstance(exc.code, int) else 2
    finally:
        torch.set_num_threads(threads)
    return code, err.getvalue(), time.perf_counter() - began


def _check(argv: list[str], code: int, err: str, seconds: float) -> None:
    allowed = {0, 1, 2} if argv and argv[0] in ("validate", "verify", "leaderboard") else {0, 2}
    assert code in allowed, (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 2:
        assert len(lines) == 1, (argv, err)
    assert seconds < MAX_SECONDS, (argv, seconds)


@pytest.fixture
def contained(playground, monkeypatch):
    """Run in the playground, with every command stopped where its data would load."""
    monkeypatch.chdir(playground)
    monkeypatch.setattr("bench.evaluation.evaluate.load_data", _stop)
    monkeypatch.setattr("bench.api.load_data", _stop)
    monkeypatch.setattr("bench.sweep.plan.measure_epoch", lambda *a, **k: 1.0)  # an estimate's input, not a check
    return playground


def test_no_command_line_ends_in_a_traceback(contained):
    flags = _flags()
    commands = st.sampled_from(sorted(flags))

    @settings(max_examples=CASES["cli"], **SETTINGS)
    @given(commands.flatmap(lambda c: st.tuples(st.just(c), st.lists(st.one_of(st.sampled_from(flags[c] or ["--x"]), VALUES), max_size=8))))
    def fuzz(case):
        fuzzing.count("cli")
        command, rest = case
        argv = [command, *rest]
        _check(argv, *_run(argv))

    fuzzing.run("cli", fuzz)


GRID_KEYS = ["adapters", "models", "datasets", "protocols", "seeds", "ratios", "speedups", "threads", "split_seed",
             "dense_seed", "checkpoint", "allocation_control", "iterations", "hparams", "layout", "device", "bogus"]
TOML_VALUES = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(['"l1-norm"', '["l1-norm"]', '["hrankplus", "sfp"]', '["resnet20"]', '["digits"]', '["ft-1"]',
                     '["clr-99999999999"]', "[0.5]", "[0.5, 1.5]", "[4]", "[1e9]", "true", '"x"', "[]", "{}", "nan",
                     '["../../etc/passwd"]', '"/dev/zero"', "1000000000", "-1", "[[1]]", '{ sparsity = "nan" }']),
    st.text(max_size=12).map(json.dumps),
)


def test_no_sweep_grid_ends_in_a_traceback(contained):
    @settings(max_examples=CASES["grid"], **SETTINGS)
    @given(st.dictionaries(st.sampled_from(GRID_KEYS), TOML_VALUES, max_size=6), st.booleans())
    def fuzz(keys, with_table):
        fuzzing.count("grid")
        text = "".join(f"{k} = {v}\n" for k, v in keys.items())
        if with_table:
            text += '[[adapters]]\nname = "l1-norm"\nratios = [0.5]\n'
        path = contained / "fuzzed.toml"
        path.write_text(text)
        argv = ["sweep", str(path), "--dry-run", "--out", str(contained / "out")]
        _check(argv, *_run(argv))

    fuzzing.run("grid", fuzz)


def _mutate(record: dict, path: list, value) -> dict:
    node = record
    for key in path[:-1]:
        node = node[key] if isinstance(node, dict) and key in node else {}
    if isinstance(node, dict):
        node[path[-1]] = value
    return record


RECORD_PATHS = [["spec", k] for k in ("protocol", "seeds", "target", "adapter", "hparams", "threads", "checkpoint", "model",
                                      "dataset", "layout", "device", "spec_version", "bogus")] + [
    ["run_id"], ["target"], ["protocol"], ["seeds"], ["model"], ["adapter", "args"], ["adapter", "name"], ["layout"],
    ["method", "structure"], ["method", "runs"], ["method", "flops"], ["dense"], ["dataset", "sizes"], ["created"],
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def test_no_record_ends_in_a_traceback(contained):
    base = json.loads(REFERENCE.read_text())

    @settings(max_examples=CASES["record"], **SETTINGS)
    @given(st.lists(st.tuples(st.sampled_from(RECORD_PATHS), JSON_VALUES), min_size=1, max_size=3))
    def fuzz(edits):
        fuzzing.count("record")
        record = json.loads(json.dumps(base))
        for path, value in edits:
            _mutate(record, path, value)
        target = contained / "fuzzed-record.json"
        target.write_text(json.dumps(record))
        argv = ["validate", str(target)]
        _check(argv, *_run(argv))

    fuzzing.run("record", fuzz)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    assert peak_gb < MAX_RSS_GB, f"the fuzzing process peaked at {peak_gb:.1f} GB"
