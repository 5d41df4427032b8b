"""The lines no import may cross (docs/architecture.md), checked on the source: every `import` and
`from ... import` of every module, including those inside functions."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(*globs: str) -> list[Path]:
    return sorted(p for g in globs for p in ROOT.glob(g))


def offending(paths: list[Path], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> dict[str, list[str]]:
    bad = {}
    for path in paths:
        hits = sorted(
            name for name in imports(path)
            if name.startswith(forbidden) and not name.startswith(allowed)
        )
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    return bad


def test_the_checks_see_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from bench.ui.cli import main\n    import torch.nn\n")
    assert imports(module) >= {"bench.ui.cli", "bench.ui.cli.main", "torch.nn"}


def test_adapters_import_only_the_pruning_interface():
    assert offending(modules("adapters/*.py"), ("bench.",), ("bench.pruning", "bench.errors")) == {}
    internals = ("bench.pruning.apply", "bench.pruning.allocation", "bench.pruning.job", "bench.pruning.soft", "bench.pruning.structure",
                 "bench.pruning.cost", "bench.pruning.units", "bench.pruning.surgery", "bench.pruning.layouts")
    assert offending(modules("adapters/*.py"), internals) == {}


def test_models_never_import_pruning_or_training_code():
    assert offending(modules("bench/models/*.py"), ("bench.pruning", "bench.core.train", "bench.api", "bench.evaluation")) == {}


def test_the_core_never_imports_an_adapter():
    core = modules("bench/core/train.py", "bench/core/protocols.py", "bench/core/counting.py", "bench/core/records.py",
                   "bench/evaluation/*.py", "bench/pruning/*.py")
    assert offending(core, ("bench.adapters", "adapters")) == {}


def test_layouts_are_plain_data():
    """Models describe their layouts as data and layouts.py reads them: no model or graph code in it."""
    assert offending(modules("bench/pruning/layouts.py"), ("torch", "bench."), ("torch.nn", "bench.errors")) == {}


def test_the_leaderboard_never_imports_torch_or_training_code():
    forbidden = ("torch", "bench.api", "bench.core.train", "bench.evaluation", "bench.infra.environment", "bench.pruning", "bench.models", "bench.data")
    assert offending(modules("bench/leaderboard/*.py"), forbidden) == {}


@pytest.mark.parametrize("path", modules("bench/**/*.py", "adapters/*.py"), ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_imports_the_cli(path):
    if path == ROOT / "bench" / "__main__.py":  # `python -m bench` is the CLI's entry point
        return
    assert not any(name == "bench.ui.cli" or name.startswith("bench.ui.cli.") for name in imports(path))


def test_the_defaults_module_imports_nothing():
    """The CLI reads its defaults from it before importing torch (`bench --help` stays fast)."""
    assert imports(ROOT / "bench" / "defaults.py") == set()


def test_the_run_identity_has_one_builder():
    """Only bench/evaluation/spec.py hashes a run's specification: nobody else builds record names."""
    builders = [p for p in modules("bench/**/*.py") if "def record_path" in p.read_text() or "def record_filename" in p.read_text()]
    assert [str(p.relative_to(ROOT)) for p in builders] == ["bench/evaluation/spec.py"]


def test_the_core_never_imports_orchestration_or_the_user_interface():
    """bench/core/ is what a training, protocol, count and record are; it knows nothing of who runs it."""
    forbidden = ("bench.evaluation", "bench.sweep", "bench.ui", "bench.api", "bench.leaderboard", "bench.adapters")
    assert offending(modules("bench/core/*.py"), forbidden) == {}


def test_infrastructure_changes_no_numbers():
    """bench/infra/ may read the core's types but never the pruning, orchestration or interface."""
    forbidden = ("bench.pruning", "bench.evaluation", "bench.sweep", "bench.ui", "bench.api", "bench.leaderboard")
    assert offending(modules("bench/infra/*.py"), forbidden) == {}


def test_pruning_never_imports_orchestration_or_the_user_interface():
    """bench/pruning/ is the domain the evaluation works on: the front door to it (`PruneJob`) and the
    conformance checks need nothing from the layers above."""
    forbidden = ("bench.api", "bench.evaluation", "bench.sweep", "bench.ui", "bench.leaderboard", "bench.perf")
    assert offending(modules("bench/pruning/*.py"), forbidden) == {}
