"""Property-based fuzzing (hypothesis): malformed input of every kind the tool reads ends in a clear
`BenchError` (or a valid result), never an uncaught exception.

The number of cases run per input kind is counted and, when PRUNEBENCH_ARTIFACTS is set, written
to fuzz_counts.json there.
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.core import records
from bench.core.protocols import parse_protocol
from bench.errors import BenchError
from bench.pruning.targets import parse_compress_rate
from bench.ui.cli import _target, build_parser
from tests.helpers.paths import HISTORIC_RECORD

CASES: Counter = Counter()
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HISTORIC = HISTORIC_RECORD


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    print(f"\nfuzz cases run: {dict(CASES)}")
    folder = os.environ.get("PRUNEBENCH_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "fuzz_counts.json").write_text(json.dumps(dict(CASES), indent=2))


# --- compress rates --------------------------------------------------------------------------------

rate_tokens = st.sampled_from(["[", "]", "+", "*", ",", "0.", "0.18", "1", "29", "-", "(", ")", "e5", "**", " ", "x", "'", "1e999", "True"])
rate_text = st.one_of(st.text(max_size=80), st.lists(rate_tokens, max_size=40).map("".join))


@FUZZ
@given(rate_text)
def fuzz_compress_rate(text):
    CASES["compress_rate"] += 1
    try:
        rates = parse_compress_rate(text)
    except BenchError:
        return
    assert all(0.0 <= r < 1.0 for r in rates) and len(rates) <= 10000


# --- protocol TOML ---------------------------------------------------------------------------------

VALID_PROTOCOL = 'name = "clr-40"\nversion = 1\nschedule = "clr"\nepochs = 40\nwarmup_fraction = 0.1\ndescription = "x"\n'
toml_values = st.one_of(
    st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(lambda f: repr(f).replace("inf", "inf")),
    st.text(max_size=20).map(json.dumps), st.sampled_from(["true", "false", "[]", "{}", "[1, 2]", '"clr"', '"scratch"', "nan"]),
)
keys = st.sampled_from(["name", "version", "schedule", "epochs", "warmup_fraction", "description", "budget", "extra_epochs", "reinitialize", "bogus"])


@FUZZ
@given(st.one_of(st.text(max_size=200), st.lists(st.tuples(keys, toml_values), max_size=8).map(
    lambda pairs: VALID_PROTOCOL + "".join(f"{k} = {v}\n" for k, v in pairs)), st.lists(st.tuples(keys, toml_values), max_size=8).map(
    lambda pairs: "".join(f"{k} = {v}\n" for k, v in pairs))))
def fuzz_protocol(text):
    CASES["protocol_toml"] += 1
    try:
        parse_protocol(text, source="fuzz.toml")
    except BenchError:
        pass


# --- submission records ----------------------------------------------------------------------------

BASE = json.loads(HISTORIC.read_text())
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)),
    max_leaves=6,
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list) and obj:
        yield from _paths(obj[0], prefix + (0,))


PATHS = [p for p in _paths(BASE) if p]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), json_values), min_size=1, max_size=3))
def fuzz_submission(mutations):
    CASES["submission"] += 1
    record = copy.deepcopy(BASE)
    for path, value in mutations:
        node = record
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    found = records.problems(record)
    assert isinstance(found, list) and all(isinstance(p, str) and ": " in p for p in found)


@FUZZ
@given(st.binary(max_size=300))
def fuzz_submission_file(blob):
    CASES["submission_file"] += 1
    path = FUZZ_DIR / "fuzz-record.json"
    path.write_bytes(blob)
    with pytest.raises(BenchError):
        records.read(path)


# --- CLI arguments ---------------------------------------------------------------------------------

flags = st.sampled_from(["--ratio", "--compress-rate", "--config", "--seeds", "--hp", "--model", "--protocol", "--adapter", "--dataset", "--split-seed", "--device"])
arg_values = st.one_of(st.text(max_size=12), st.sampled_from(["0.5", "1.5", "-1", "nan", "3", "0,1", "[0.1]*3", "resnet56-B", "l1-norm", "x=1"]))


@FUZZ
@given(st.lists(st.one_of(flags, arg_values), max_size=10))
def fuzz_cli_args(argv):
    """Parsing plus target/seed interpretation: everything `bench evaluate` does before any work."""
    CASES["cli_args"] += 1
    try:
        args = build_parser().parse_args(["evaluate", *argv])
        _target(args)
    except BenchError:
        pass
    except SystemExit as exc:  # only --help/--version may exit, and they are not generated here
        pytest.fail(f"argparse exited with {exc.code} for {argv!r}")


FUZZ_DIR = Path()  # set by the file-reading test to its tmp folder


@pytest.mark.parametrize(
    "kind, fuzz",
    [
        ("compress_rate", fuzz_compress_rate),
        ("protocol_toml", fuzz_protocol),
        ("submission", fuzz_submission),
        ("submission_file", fuzz_submission_file),
        ("cli_args", fuzz_cli_args),
    ],
)
def test_malformed_input_never_crashes(kind, fuzz, tmp_path):
    global FUZZ_DIR
    FUZZ_DIR = tmp_path
    before = CASES[kind]
    fuzz()
    assert CASES[kind] - before >= 1000, f"only {CASES[kind] - before} {kind} cases ran"
