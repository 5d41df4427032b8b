"""User-facing errors (bench/errors.py): one line, no traceback, exit code 2 from the command line."""

import pytest

from bench.errors import BenchError, UnknownNameError


def test_an_unknown_name_reads_as_its_message_and_is_still_a_key_error():
    error = UnknownNameError("unknown model 'resnet65'; did you mean 'resnet56'?")
    assert str(error) == "unknown model 'resnet65'; did you mean 'resnet56'?"  # a KeyError would quote it
    assert isinstance(error, BenchError) and isinstance(error, KeyError)
    assert str(UnknownNameError()) == ""
    with pytest.raises(KeyError):  # code that looks names up in dicts may catch it as one
        raise error


def test_the_command_line_prints_a_bench_error_in_one_line_and_exits_2(cli):
    code, out, err = cli("evaluate", "--adapter", "hrankplu")
    assert code == 2 and out == ""
    assert err.startswith("bench: error: unknown adapter 'hrankplu'") and err.count("\n") == 1 and "Traceback" not in err
