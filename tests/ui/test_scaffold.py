"""`bench new-adapter NAME`: the generated file registers and passes the conformance checks as it is;
bad names and existing files are refused in one line."""

import importlib.util
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from bench.pruning import ADAPTERS, Adapter, conformance, get_adapter
from bench.ui.cli import main
from bench.ui.scaffold import find_checkout, identifiers

from tests.helpers.paths import REPO

NAME, MODULE, CLASS = "scaffold-probe", "scaffold_probe", "ScaffoldProbe"


pytestmark = pytest.mark.usefixtures("one_thread")


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _clean_registry():
    yield
    sys.modules.pop(MODULE, None)
    ADAPTERS._items.pop(NAME, None)  # keep the global registry as the other tests expect it


def test_generated_adapter_registers_and_passes_the_conformance_checks(tmp_path, capsys):
    assert main(["new-adapter", NAME, "--out", str(tmp_path)]) == 0
    path = tmp_path / f"{MODULE}.py"
    assert str(path) in capsys.readouterr().out
    text = path.read_text()
    assert "$" not in text and "@ADAPTERS.register()" in text and f'name = "{NAME}"' in text
    for part in ("TODO", "Structured.", "Hyperparameters (paper defaults)", "Differences from the reference implementation"):
        assert part in text
    module = _import(path)
    cls = get_adapter(NAME)
    assert cls is getattr(module, CLASS) and cls.Hparams is getattr(module, f"{CLASS}Hparams")
    assert cls.kind == "structured" and cls.describe_hparams() == {"power": 2.0}
    conformance.check_adapter(NAME)
    from bench.leaderboard.load import content_problems

    assert content_problems({"paper": cls.paper}) == []  # its records reach the leaderboard, placeholder and all


def test_existing_file_is_never_overwritten(tmp_path, capsys):
    existing = tmp_path / f"{MODULE}.py"
    existing.write_text("# my work\n")
    assert main(["new-adapter", NAME, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: ") and "already exists" in err and err.count("\n") == 1
    assert existing.read_text() == "# my work\n"


@pytest.mark.parametrize(
    "name",
    ["", "L2Norm", "2fast", "l2 norm", "l2--norm", "-l2", "l2-", "l2.norm", "../evil", "import", "os", "l1-norm", "l1_norm"],
)
def test_bad_names_are_refused_in_one_line(name, tmp_path, capsys):
    assert main(["new-adapter", name, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: ") and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_identifiers():
    assert identifiers("l2-norm") == ("l2-norm", "l2_norm", "L2Norm")
    assert identifiers("taylor_fo_bn") == ("taylor-fo-bn", "taylor_fo_bn", "TaylorFoBn")


def test_default_folder_is_adapters_in_a_checkout(tmp_path, monkeypatch, capsys):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "prunebench"\n')
    (tmp_path / "adapters").mkdir()
    (tmp_path / "docs").mkdir()
    monkeypatch.chdir(tmp_path / "docs")
    assert main(["new-adapter", NAME]) == 0
    assert (tmp_path / "adapters" / f"{MODULE}.py").is_file() and not (tmp_path / "docs" / f"{MODULE}.py").exists()
    assert "BUILTIN_MODULES" in capsys.readouterr().out
    assert find_checkout(REPO / "bench") == REPO


def test_default_folder_is_the_current_one_elsewhere(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-adapter", NAME]) == 0
    assert (tmp_path / f"{MODULE}.py").is_file()
    assert 'entry-points."prunebench.adapters"' in capsys.readouterr().out


@pytest.mark.parametrize(
    "folder, packages, prefix",
    [
        ("probe_pkg", ["probe_pkg"], "probe_pkg."),
        ("src/outer_pkg/inner_pkg", ["src/outer_pkg", "src/outer_pkg/inner_pkg"], "outer_pkg.inner_pkg."),  # src layout
        ("flat", [], ""),  # no package: a top-level module
    ],
)
def test_scaffold_prints_an_entry_point_that_resolves(tmp_path, capsys, monkeypatch, folder, packages, prefix):
    name = "scaffold-ep-probe"
    out = tmp_path / "project" / folder
    out.mkdir(parents=True)
    for package in packages:
        (tmp_path / "project" / package / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)  # not a prunebench checkout
    assert main(["new-adapter", name, "--out", str(out)]) == 0
    (line,) = [ln.strip() for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith(f"{name} = ")]
    key, value = (part.strip().strip('"') for part in line.split("=", 1))
    assert value == f"{prefix}scaffold_ep_probe:ScaffoldEpProbe"
    # The folder that holds the outermost package (or the module itself) is what an install puts on sys.path.
    monkeypatch.syspath_prepend(str(out.parents[len(packages) - 1] if packages else out))
    try:
        cls = EntryPoint(key, value, "prunebench.adapters").load()  # exactly how the registry resolves it
        assert isinstance(cls, type) and issubclass(cls, Adapter) and cls.name == name == key
    finally:
        ADAPTERS._items.pop(name, None)
        for module in [m for m in sys.modules if m.split(".")[0] in ("probe_pkg", "outer_pkg", "scaffold_ep_probe")]:
            del sys.modules[module]
