"""Plugins (adapters from other packages, through the `prunebench.adapters` entry-point group) cannot
break the tool: a broken one is a warning and an error only when asked for; the scaffold's entry point
resolves; refusals are the adapter's own declaration; records name the plugin's package; and
`check_adapter` says what it checked.

The plugin distribution here is a real one (a *.dist-info folder on sys.path), as pip would install it."""

import sys
from importlib.metadata import EntryPoint

import pytest
import torch

import bench
from bench.core import records
from bench.errors import BenchError
from bench.evaluation.record import distribution
from bench.models import build_model
from bench.pruning import ADAPTERS, Adapter, conformance, get_adapter
from bench.ui.cli import main
from tests.integration.test_model_matrix import FAMILIES, check_pair

DIST, VERSION = "example-plugins", "0.3"
GOOD = "good-plugin"
BROKEN = {  # entry point -> what makes it fail
    "broken-import": "broken_plugin_dep:Anything",  # its module imports something not installed
    "names-nothing": "good_plugin_mod:Missing",  # no such attribute
    "not-an-adapter": "good_plugin_mod:NotAnAdapter",  # a class, but not an Adapter
}
MODULES = ("good_plugin_mod", "broken_plugin_dep")

GOOD_MODULE = '''
import torch
from bench.pruning import Adapter

class GoodPlugin(Adapter):
    name = "good-plugin"

    def score(self, ctx):
        return {n: m.weight.detach().abs().flatten(1).sum(1) for n, m in ctx.layers.items()}

class NotAnAdapter:
    pass
'''

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """Install (on sys.path) one distribution with a good adapter and three broken entry points, and
    let the global registry load entry points afresh; restored afterwards."""
    (tmp_path / "good_plugin_mod.py").write_text(GOOD_MODULE)
    (tmp_path / "broken_plugin_dep.py").write_text("import prunebench_no_such_dependency  # noqa\n")
    info = tmp_path / f"example_plugins-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {VERSION}\n")
    (info / "top_level.txt").write_text("good_plugin_mod\nbroken_plugin_dep\n")
    eps = "".join(f"{name} = {value}\n" for name, value in {GOOD: "good_plugin_mod:GoodPlugin", **BROKEN}.items())
    (info / "entry_points.txt").write_text(f"[prunebench.adapters]\n{eps}")
    get_adapter("l1-norm")  # built-ins (and any installed plugins) loaded before, so restoring keeps them
    saved = dict(ADAPTERS._items), dict(ADAPTERS._failed), ADAPTERS._entry_points_loaded
    monkeypatch.syspath_prepend(str(tmp_path))
    ADAPTERS._entry_points_loaded = False
    yield tmp_path
    ADAPTERS._items, ADAPTERS._failed, ADAPTERS._entry_points_loaded = saved
    for module in MODULES:
        sys.modules.pop(module, None)


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("bench: warning: adapter plugin")]


# --- 1. a broken plugin is a warning; asking for it is a one-line error --------------------------------


def test_broken_plugins_warn_in_one_line_each_and_the_others_still_work(plugins, capsys):
    assert main(["list", "adapters"]) == 0
    out, err = capsys.readouterr()
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"l1-norm", "hrankplus", GOOD} <= listed and not listed & set(BROKEN)
    warnings = _warnings(err)
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
    assert others == _warnings("\n".join(others)) and len(others) == len(BROKEN) - 1
    assert not any(f"entry point {name} =" in line for line in others)


def test_evaluate_with_a_broken_plugin_installed_is_a_one_line_error(plugins, capsys, tmp_path):
    args = ["--threads", "1", "--out", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")]
    assert main(["evaluate", "--adapter", "broken-import", *args]) == 2
    *others, error = capsys.readouterr().err.splitlines()
    assert error.startswith("bench: error: adapter 'broken-import' failed to load")
    assert error.endswith("ModuleNotFoundError: No module named 'prunebench_no_such_dependency'")
    assert len(_warnings("\n".join(others))) == len(others) == len(BROKEN) - 1  # no traceback


def test_a_built_in_prunes_beside_broken_plugins(plugins, capsys, tmp_path):
    code = main(["prune", "--adapter", "l1-norm", "--model", "resnet20", "--dataset", "digits",
                 "--runs-dir", str(tmp_path / "runs"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"adapter": "l1-norm"' in out and len(_warnings(err)) == len(BROKEN)


# --- 2. the scaffold's entry point resolves, wherever --out is ------------------------------------------


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


# --- 3. refusals are the adapter's declaration, and still checked ---------------------------------------


def test_built_in_refusals_are_declared_on_the_adapters():
    assert set(get_adapter("slimming").refuses) == {"timm:convnext_atto", "timm:mobilenetv3_small_050"}
    assert set(get_adapter("width-scaled").refuses) == {"vgg16", "densenet40"}
    assert Adapter.refuses == () and get_adapter("l1-norm").refuses == ()


def _refusing(message: str = "refusing-plugin cannot prune this model", refuses=("resnet20",), exc=None):
    class Refusing(Adapter):
        name = "refusing-plugin"

        def score(self, ctx):
            raise (exc or BenchError)(message)

    Refusing.refuses = refuses
    return Refusing()


@pytest.fixture(scope="module")
def resnet20():
    torch.manual_seed(0)
    return build_model("resnet20", num_classes=5, in_channels=3).eval()


def test_a_declared_clean_refusal_passes_the_model_matrix(resnet20):
    assert "resnet20" in FAMILIES
    check_pair("resnet20", _refusing(), resnet20)


@pytest.mark.parametrize(
    "adapter, fails_with",
    [
        (_refusing(refuses=()), AssertionError),  # refused, but not declared
        (_refusing("two\nlines"), AssertionError),  # declared, but not one line
        (_refusing(exc=ValueError), ValueError),  # declared, but not a BenchError: never skipped
    ],
)
def test_a_refusal_must_be_declared_and_clean(resnet20, adapter, fails_with):
    with pytest.raises(fails_with):
        check_pair("resnet20", adapter, resnet20)


def test_a_declared_refusal_that_prunes_fails(resnet20, plugins):
    adapter = get_adapter(GOOD)()
    type(adapter).refuses = ("resnet20",)
    with pytest.raises(AssertionError, match="a refusal was expected"):
        check_pair("resnet20", adapter, resnet20)


# --- 4. records name the adapter's package and version --------------------------------------------------


def test_record_names_the_package_of_built_ins_and_plugins(plugins, monkeypatch):
    assert distribution("bench.adapters.l1_norm") == {"package": "prunebench", "package_version": bench.__version__}
    assert distribution("good_plugin_mod") == {"package": DIST, "package_version": VERSION}
    assert distribution("no_such_module_anywhere") == {}

    def broken():
        raise RuntimeError("corrupt metadata")

    monkeypatch.setattr("importlib.metadata.packages_distributions", broken)
    assert distribution("good_plugin_mod") == {}  # never a crash: the fields are left out


def test_schema_accepts_the_package_fields(example_record):
    example_record["adapter"].update(package=DIST, package_version=VERSION)
    assert not records.problems(example_record)
    example_record["adapter"]["package"] = "x" * 101
    assert records.problems(example_record)


@pytest.mark.slow
def test_evaluate_records_the_plugins_package(plugins, capsys, tmp_path):
    torch.manual_seed(0)
    ckpt = tmp_path / "dense.pt"
    torch.save(build_model("resnet20", num_classes=10, in_channels=1).state_dict(), ckpt)
    code = main(["evaluate", "--adapter", GOOD, "--protocol", "ft-1", "--seeds", "1", "--threads", "1",
                 "--checkpoint", str(ckpt), "--out", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 0, err
    (path,) = (tmp_path / "out").rglob("*.json")
    adapter = records.read(path)["adapter"]
    assert adapter["module"] == "good_plugin_mod"
    assert (adapter["package"], adapter["package_version"]) == (DIST, VERSION)


# --- 5. check_adapter says what it checked --------------------------------------------------------------


def test_check_adapter_prints_one_line_per_check(capsys):
    results = conformance.check_adapter("l1-norm")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(results) == len(conformance.CHECKS)
    assert all(line.startswith("conformance l1-norm: PASS  ") for line in lines)
    assert "random control matches the structure" in lines[-1]


def test_check_adapter_reports_every_failure_then_raises(capsys):
    class Empty(Adapter):
        name = "empty-probe"

        def score(self, ctx):
            return {}

    with pytest.raises(AssertionError, match="returned no scores"):
        conformance.check_adapter(Empty)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(conformance.CHECKS)
    assert all(line.startswith("conformance empty-probe: FAIL  ") for line in lines), lines
