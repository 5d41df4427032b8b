"""Pruning targets and the safe compress-rate parser."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from bench.errors import BenchError
from bench.pruning.targets import Target, format_compress_rate, parse_compress_rate

from tests.helpers import fuzzing


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[0.]+[0.18]*29", (0.0,) + (0.18,) * 29),
        ("[0.21]*7+[0.75]*5", (0.21,) * 7 + (0.75,) * 5),
        ("[0.]+[0.4]*2+[0.5]*9+[0.6]*9+[0.7]*9", (0.0,) + (0.4,) * 2 + (0.5,) * 9 + (0.6,) * 9 + (0.7,) * 9),
        ("2*[0.1, 0.2]", (0.1, 0.2, 0.1, 0.2)),
        ("0.1, 0.2", (0.1, 0.2)),
        ("0.3", (0.3,)),
    ],
)
def test_hrankplus_strings_parse(text, expected):
    assert parse_compress_rate(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "[0.1]*2.5",
        "[1.0]",
        "[-0.1]",
        "[0.1]*-3",
        "[0.1]*100000",
        "[0.1",
        "",
        "[0.1]+'a'",
        "[x]",
        "[0.1]*(2**40)",
        "[" + "0.1," * 3000 + "]",
        "[True]",
    ],
)
def test_malformed_or_hostile_rates_are_clear_errors(text):
    with pytest.raises(BenchError):
        parse_compress_rate(text)


def test_format_round_trips():
    rates = (0.0,) + (0.18,) * 29
    assert format_compress_rate(rates) == "[0.0]+[0.18]*29"
    assert parse_compress_rate(format_compress_rate(rates)) == rates


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_ratio_outside_open_interval_is_rejected(ratio):
    with pytest.raises(BenchError, match=r"\(0, 1\)"):
        Target(ratio=ratio)


def test_exactly_one_target():
    with pytest.raises(BenchError):
        Target()
    with pytest.raises(BenchError):
        Target(ratio=0.5, config="resnet56-B")
    assert Target(config="resnet56-B").describe() == "config=resnet56-B"


# --- fuzzing ----------------------------------------------------------------------------------------------

rate_tokens = st.sampled_from(["[", "]", "+", "*", ",", "0.", "0.18", "1", "29", "-", "(", ")", "e5", "**", " ", "x", "'", "1e999", "True"])
rate_text = st.one_of(st.text(max_size=80), st.lists(rate_tokens, max_size=40).map("".join))


@fuzzing.FUZZ
@given(rate_text)
def fuzz_compress_rate(text):
    fuzzing.count("compress_rate")
    try:
        rates = parse_compress_rate(text)
    except BenchError:
        return
    assert isinstance(rates, tuple) and all(isinstance(r, float) and 0.0 <= r < 1.0 for r in rates) and len(rates) <= 10000
    if rates:  # "()" parses to no rates, which the engine refuses by length (its layout takes N entries)
        assert parse_compress_rate(format_compress_rate(rates)) == pytest.approx(rates)  # what a record stores reads back


def test_malformed_compress_rates_never_crash():
    fuzzing.run("compress_rate", fuzz_compress_rate)


@pytest.mark.parametrize("value", ["1", "0.5", "nan", "inf", "-3"])
def test_a_speedup_must_be_above_one(cli, work_in_tmp, value):
    code, _, err = cli("prune", "--adapter", "l1-norm", "--speedup", value, "--json")
    assert code == 2 and "--speedup must be a FLOPs speed-up above 1" in err
