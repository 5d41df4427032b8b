"""The adapter registry (bench/pruning/registry.py): the built-ins, listed explicitly, and plugins (adapters
from other packages, through the `prunebench.adapters` entry-point group), which cannot break the tool: a
broken one is a warning and an error only when asked for, and a declared refusal must refuse.

The plugin distribution here is a real one (a *.dist-info folder on sys.path, tests/helpers/plugins.py), as
pip would install it."""

import pytest

from bench.pruning import get_adapter
from bench.ui.cli import main

from tests.helpers.matrix import check_pair
from tests.helpers.paths import REPO
from tests.helpers.plugins import BROKEN, DIST, GOOD, VERSION, warnings as plugin_warnings


pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_built_in_module_is_listed_and_registers_under_its_own_name():
    """Built-ins are imported from an explicit list (no folder scanning): a module in adapters/ that the list
    misses would never load."""
    from bench.pruning import registry

    shipped = {p.stem for p in (REPO / "adapters").glob("*.py") if p.stem != "__init__"}
    assert set(registry.BUILTIN_MODULES) == shipped and len(registry.BUILTIN_MODULES) == len(shipped)
    names = registry.adapter_names()
    modules = {get_adapter(name).__module__ for name in names}
    assert {f"bench.adapters.{m}" for m in shipped} <= modules
    assert all(get_adapter(name).name == name for name in names)  # registered under the name it gives itself


# --- a broken plugin is a warning; asking for it is a one-line error ------------------------------------


def test_broken_plugins_warn_in_one_line_each_and_the_others_still_work(plugins, capsys):
    assert main(["list", "adapters"]) == 0
    out, err = capsys.readouterr()
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"l1-norm", "hrankplus", GOOD} <= listed and not listed & set(BROKEN)
    warnings = plugin_warnings(err)
    assert len(warnings) == len(BROKEN) == err.count("\n")  # one line each, nothing else (no traceback)
    for name, value in BROKEN.items():
        (line,) = [w for w in warnings if f"entry point {name} = {value!r}" in w]
        assert f"package {DIST} {VERSION}" in line
    assert "ModuleNotFoundError" in err and "has no attribute 'Missing'" in err and "not a bench.pruning.Adapter" in err


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_asking_for_a_broken_plugin_is_a_one_line_error_saying_why(plugins, capsys, name):
    assert main(["prune", "--adapter", name, "--model", "resnet20", "--dataset", "digits"]) == 2
    *others, error = capsys.readouterr().err.splitlines()
    # One line that says why; the other broken plugins are warned about, but not the one it names.
    assert error.startswith(f"bench: error: adapter {name!r} failed to load (entry point {name} = {BROKEN[name]!r}")
    assert f"package {DIST} {VERSION}" in error
    assert others == plugin_warnings("\n".join(others)) and len(others) == len(BROKEN) - 1
    assert not any(f"entry point {name} =" in line for line in others)


def test_evaluate_with_a_broken_plugin_installed_is_a_one_line_error(plugins, capsys, tmp_path):
    args = ["--threads", "1", "--out", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")]
    assert main(["evaluate", "--adapter", "broken-import", *args]) == 2
    *others, error = capsys.readouterr().err.splitlines()
    assert error.startswith("bench: error: adapter 'broken-import' failed to load")
    assert error.endswith("ModuleNotFoundError: No module named 'prunebench_no_such_dependency'")
    assert len(plugin_warnings("\n".join(others))) == len(others) == len(BROKEN) - 1  # no traceback


def test_a_built_in_prunes_beside_broken_plugins(plugins, capsys, tmp_path):
    code = main(["prune", "--adapter", "l1-norm", "--model", "resnet20", "--dataset", "digits",
                 "--runs-dir", str(tmp_path / "runs"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"adapter": "l1-norm"' in out and len(plugin_warnings(err)) == len(BROKEN)


# --- a plugin's refusals are its declaration, and still checked ------------------------------------------


def test_a_declared_refusal_that_prunes_fails(dense_models, plugins):
    adapter = get_adapter(GOOD)()
    type(adapter).refuses = ("resnet20",)
    with pytest.raises(AssertionError, match="a refusal was expected"):
        check_pair("resnet20", adapter, dense_models("resnet20"))
