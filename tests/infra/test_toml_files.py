"""Reading the project's TOML files (bench/infra/toml_files.py): every problem is one line naming the file (a
missing file, a folder, bytes that are not UTF-8, invalid TOML), an unknown key gets the closest known one,
and true/false is never taken for a number."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.infra import toml_files


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_good_file_is_its_table(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('name = "clr-40"\nepochs = 40\n[grid]\nratio = [0.3, 0.5]\n', encoding="utf-8")
    assert toml_files.read(path, "sweep file") == {"name": "clr-40", "epochs": 40, "grid": {"ratio": [0.3, 0.5]}}
    assert toml_files.read(str(path), "sweep file")["epochs"] == 40  # a str path too


def test_a_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(BenchError) as caught:
        toml_files.read(path, "sweep file")
    assert one_line(caught) == f"sweep file {path} does not exist"


def test_a_folder(tmp_path):
    with pytest.raises(BenchError) as caught:
        toml_files.read(tmp_path, "protocol file")
    assert one_line(caught) == f"protocol file {tmp_path} is a folder, not a file"


def test_a_device_or_a_huge_file_is_refused_before_it_is_read(tmp_path):
    """`bench sweep /dev/zero` once read until the machine ran out of memory (found by the CLI fuzz)."""
    with pytest.raises(BenchError) as caught:
        toml_files.read("/dev/zero", "sweep file")
    assert one_line(caught) == "sweep file /dev/zero is not a regular file (a device, a pipe or a socket)"
    big = tmp_path / "big.toml"
    with big.open("wb") as f:
        f.truncate(toml_files.MAX_BYTES + 1)  # sparse: nothing written
    with pytest.raises(BenchError) as caught:
        toml_files.read(big, "sweep file")
    assert one_line(caught) == f"sweep file {big} is larger than 4 MB"


def test_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('description = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(BenchError) as caught:
        toml_files.read(path, "protocol file")
    assert one_line(caught).startswith(f"cannot read protocol file {path}: ") and "utf-8" in str(caught.value)


@pytest.mark.parametrize("text", ['epochs = \n', 'name = "a"\nname = "b"\n', "[grid\n", 'x = "unterminated\n'])
def test_invalid_toml_names_the_file_and_the_place(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BenchError) as caught:
        toml_files.read(path, "sweep file")
    assert one_line(caught).startswith(f"{path}: invalid TOML: ") and "line" in str(caught.value)
    with pytest.raises(BenchError, match=r"^<inline>: invalid TOML: "):
        toml_files.parse(text, source="<inline>")


def test_an_unknown_key_gets_the_closest_known_one_else_the_list():
    def fail(message: str) -> BenchError:
        return BenchError(f"grid.toml: {message}")

    toml_files.check_keys({"epochs": 1, "lr_max": 0.1}, ["epochs", "lr_max", "lr_min"], fail)
    with pytest.raises(BenchError, match=r"^grid.toml: unknown key 'epoch'; did you mean 'epochs'\?$"):
        toml_files.check_keys({"epochs": 1, "epoch": 2}, ["epochs", "lr_max"], fail)
    with pytest.raises(BenchError, match=r"^grid.toml: unknown field 'zzz' \(known: epochs, lr_max\)$"):
        toml_files.check_keys({"zzz": 1}, ("epochs", "lr_max"), fail, noun="field")


@pytest.mark.parametrize("value, kinds, expected", [
    (3, int, True),
    (True, int, False),  # true is not an integer here, though Python's bool is an int
    (False, (int, float), False),
    (True, bool, True),
    (True, (bool, int), True),
    (2.5, (int, float), True),
    (2, float, False),
    ("3", int, False),
    ([1], list, True),
])
def test_is_kind_never_takes_true_for_a_number(value, kinds, expected):
    assert toml_files.is_kind(value, kinds) is expected


def test_kind_names_read_as_an_error_message_words_them():
    assert toml_files.kind_name(int) == "an integer"
    assert toml_files.kind_name((int, float)) == "a number"
    assert toml_files.kind_name(float) == "a number"
    assert toml_files.kind_name(bool) == "true or false"
    assert toml_files.kind_name((str,)) == "a string"
    assert toml_files.kind_name(dict) == "a table" and toml_files.kind_name(list) == "a list"
    assert toml_files.kind_name(bytes) == "bytes"  # no wording of its own: the type's name
