"""The record of one evaluation (bench/evaluation/record.py): it names the installed package (and version)
that provided the adapter, built-in or plugin, and never fails over metadata."""

import pytest

import bench
from bench.core import records
from bench.evaluation.record import distribution
from bench.ui.cli import main

from tests.helpers.plugins import DIST, GOOD, VERSION


def test_record_names_the_package_of_built_ins_and_plugins(plugins, monkeypatch):
    assert distribution("bench.adapters.l1_norm") == {"package": "prunebench", "package_version": bench.__version__}
    assert distribution("good_plugin_mod") == {"package": DIST, "package_version": VERSION}
    assert distribution("no_such_module_anywhere") == {}

    def broken():
        raise RuntimeError("corrupt metadata")

    monkeypatch.setattr("importlib.metadata.packages_distributions", broken)
    assert distribution("good_plugin_mod") == {}  # never a crash: the fields are left out


@pytest.mark.slow
def test_evaluate_records_the_plugins_package(plugins, capsys, tmp_path, dense_weights):
    code = main(["evaluate", "--adapter", GOOD, "--protocol", "ft-1", "--seeds", "1", "--threads", "1",
                 "--checkpoint", str(dense_weights), "--out", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 0, err
    (path,) = (tmp_path / "out").rglob("*.json")
    adapter = records.read(path)["adapter"]
    assert adapter["module"] == "good_plugin_mod"
    assert (adapter["package"], adapter["package_version"]) == (DIST, VERSION)
