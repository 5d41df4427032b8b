"""The lines no import may cross (docs/architecture.md), checked on the source: every `import` and
`from ... import` of every module, at module level or inside a function, absolute or relative.

The layer order is the doc's "Layers, top to bottom" list (read by tests/helpers/layering.py): a module imports
its own package and the layers below, never a higher layer or a sibling; no files import each other in
a cycle; an import of another bench package inside a function says why it is lazy. The rules after
those are finer lines inside the layers."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from tests.helpers.layering import Layering, bench_files, imports, read_layers

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
FILES = bench_files(ROOT)


@lru_cache(maxsize=1)
def repository() -> Layering:
    return Layering(ROOT, read_layers(DOC))


def in_file(lines: list[str], module: str) -> list[str]:
    where = f"{FILES[module].relative_to(ROOT)}:"
    return [line for line in lines if line.startswith(where)]


def imported(module: str) -> list[str]:
    return repository().imported_by(module)


def offending(modules: list[str], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Module → the imports of `modules` that start with a forbidden prefix (and no allowed one)."""
    bad = {}
    for module in modules:
        hits = sorted(name for name in imported(module) if name.startswith(forbidden) and not name.startswith(allowed))
        if hits:
            bad[module] = hits
    return bad


def under(*packages: str) -> list[str]:
    return sorted(m for m in FILES if any(m == p or m.startswith(p + ".") for p in packages))


# --- the layers ------------------------------------------------------------------------------------


def test_the_doc_lists_existing_packages_once():
    layers = read_layers(DOC)
    names = [name for layer in layers for name in layer]
    assert len(layers) >= 5 and len(names) == len(set(names))
    assert [name for name in names if not any(m == name or m.startswith(name + ".") for m in FILES)] == []


def test_every_module_is_in_a_layer():
    unlisted = repository().unlisted()
    assert not unlisted, f"in no layer of {DOC.name}: {', '.join(unlisted)}"


@pytest.mark.parametrize("module", sorted(FILES), ids=lambda m: str(FILES[m].relative_to(ROOT)))
def test_imports_point_down_the_layers(module):
    crossings = in_file(repository().crossings(), module)
    assert not crossings, "\n" + "\n".join(crossings)


@pytest.mark.parametrize("module", sorted(FILES), ids=lambda m: str(FILES[m].relative_to(ROOT)))
def test_imports_inside_functions_say_why_they_are_lazy(module):
    """`# lazy: why` on the import's line, the line above, or heading its run of imports, for every other bench package it imports
    inside a function (e.g. "keeps `bench --help` fast"): anything else belongs at the top."""
    unexplained = in_file(repository().unexplained_lazy_imports(), module)
    assert not unexplained, "\n" + "\n".join(unexplained)


def test_no_files_import_each_other_in_a_cycle():
    cycles = [" -> ".join(cycle) for cycle in repository().cycles()]
    assert not cycles, "\n" + "\n".join(cycles)


# --- the checker fails on what it is for (planted trees) ------------------------------------------------

PLANTED_LAYERS = """# Architecture

## Layers, top to bottom

```
bench.top                     # a comment
bench.left, bench.right
bench.adapters
bench.low
bench, bench.errors
```
"""


def plant(root: Path, files: dict[str, str]) -> Layering:
    """A tree with the planted layers, an empty module per package, `files` on top, and bench/adapters
    linked to ../adapters as in a checkout."""
    base = {f"bench/{p}/__init__.py": "" for p in ("top", "left", "right", "low")}
    base |= {"bench/__init__.py": "", "bench/errors.py": "", "bench/top/t.py": "", "bench/low/b.py": "",
             "adapters/__init__.py": ""}
    for name, text in (base | files).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "bench" / "adapters").symlink_to(root / "adapters", target_is_directory=True)
    (root / "docs").mkdir()
    (root / "docs" / "architecture.md").write_text(PLANTED_LAYERS)
    return Layering(root, read_layers(root / "docs" / "architecture.md"))


def test_a_clean_planted_tree_passes(tmp_path):
    tree = plant(tmp_path, {
        "bench/top/u.py": "from bench.left import x\nfrom ..low import b\n",
        "bench/low/a.py": "from . import b\nimport bench.errors\n\ndef f():\n    # lazy: a reason\n    from bench import errors\n",
    })
    assert (tree.unlisted(), tree.crossings(), tree.unexplained_lazy_imports(), tree.cycles()) == ([], [], [], [])
    assert {i.target for i in tree.imports if i.source == "bench.low.a"} == {"bench.low.b", "bench.errors"}


@pytest.mark.parametrize("source", [
    "from bench.top import t\n",  # absolute
    "from ..top import t\n",  # relative
    "import bench.top.t\n",
    "def f():\n    # lazy: a reason does not make an upward import right\n    from bench.top import t\n",  # in a function
])
def test_an_upward_import_fails(tmp_path, source):
    tree = plant(tmp_path, {"bench/low/a.py": source})
    assert [line.split(": ", 1)[0].rsplit(":", 1)[0] for line in tree.crossings()] == ["bench/low/a.py"]
    assert "from the higher layer bench.top" in tree.crossings()[0]


def test_a_sibling_import_fails(tmp_path):
    tree = plant(tmp_path, {"bench/left/a.py": "def f():\n    from bench.right import r  # lazy: siblings stay apart anyway\n",
                            "bench/right/r.py": ""})
    assert tree.crossings() == ["bench/left/a.py:2: bench.left imports bench.right.r from its sibling bench.right"]


def test_a_lazy_import_without_its_reason_fails(tmp_path):
    tree = plant(tmp_path, {"bench/top/a.py": "def f():\n    # why, but not marked\n    from bench.low import b\n"})
    assert tree.crossings() == []
    assert tree.unexplained_lazy_imports() == ["bench/top/a.py:3: imports bench.low.b inside a function without a `# lazy: ...` reason"]


def test_a_reason_covers_the_run_of_imports_it_heads_and_no_further(tmp_path):
    tree = plant(tmp_path, {"bench/top/a.py": (
        "def f():\n    from bench.low import b  # lazy: torch\n    from bench.low import c\n\n    from bench.low import d\n"
    )})
    assert tree.unexplained_lazy_imports() == ["bench/top/a.py:5: imports bench.low inside a function without a `# lazy: ...` reason"]


def test_a_type_only_import_makes_no_cycle_but_keeps_the_layer_order(tmp_path):
    tree = plant(tmp_path, {
        "bench/low/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bench.low.b import B\n",
        "bench/low/b.py": "from bench.low import a\n",
        "bench/low/c.py": "import typing\nif typing.TYPE_CHECKING:\n    from bench.top import t\n",
    })
    assert tree.cycles() == []
    assert tree.crossings() == ["bench/low/c.py:3: bench.low imports bench.top.t from the higher layer bench.top"]


def test_an_import_cycle_fails_and_is_named(tmp_path):
    tree = plant(tmp_path, {
        "bench/low/a.py": "from bench.low import c\n",
        "bench/low/c.py": "def f():\n    from .d import x\n",  # the cycle closes inside a function
        "bench/low/d.py": "from bench.low.a import y\n",
    })
    assert tree.crossings() == [] and tree.unexplained_lazy_imports() == []
    assert tree.cycles() == [["bench.low.a", "bench.low.c", "bench.low.d", "bench.low.a"]]


def test_adapters_are_bench_adapters_and_their_links_are_not_read_twice(tmp_path):
    tree = plant(tmp_path, {"adapters/mine.py": "from bench.left import x\n"})
    assert tree.files["bench.adapters.mine"] == tmp_path / "adapters" / "mine.py"
    assert tree.crossings() == ["adapters/mine.py:1: bench.adapters imports bench.left from the higher layer bench.left"]


def test_a_module_outside_every_layer_fails(tmp_path):
    tree = plant(tmp_path, {"bench/elsewhere.py": ""})
    assert tree.unlisted() == ["bench.elsewhere"]


def test_imports_see_every_form(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import torch.nn as nn\nfrom .. import errors\n\ndef f():\n    from bench.ui.cli import main\n")
    found = imports("bench.pkg.m", module, {"bench.errors", "bench.ui.cli"})
    assert [(i.target, i.in_function) for i in found] == [("torch.nn", False), ("bench.errors", False), ("bench.ui.cli", True)]


# --- finer lines ------------------------------------------------------------------------------------


def test_adapters_import_only_the_pruning_interface():
    adapters = under("bench.adapters")
    assert offending(adapters, ("bench",), ("bench.pruning", "bench.errors")) == {}
    internals = ("bench.pruning.apply", "bench.pruning.allocation", "bench.pruning.job", "bench.pruning.soft", "bench.pruning.structure",
                 "bench.pruning.cost", "bench.pruning.units", "bench.pruning.surgery", "bench.pruning.layouts")
    assert offending(adapters, internals) == {}


def test_models_never_import_pruning_or_training_code():
    assert offending(under("bench.models"), ("bench.pruning", "bench.core.train", "bench.api", "bench.evaluation")) == {}


def test_the_core_never_imports_an_adapter():
    core = ["bench.core.train", "bench.core.protocols", "bench.core.counting", "bench.core.records",
            *under("bench.evaluation", "bench.pruning")]
    assert offending(core, ("bench.adapters", "adapters")) == {}


def test_layouts_are_plain_data():
    """Models describe their layouts as data and layouts.py reads them: no model or graph code in it."""
    assert offending(["bench.pruning.layouts"], ("torch", "bench"), ("torch.nn", "bench.errors")) == {}


def test_the_leaderboard_never_imports_torch_or_training_code():
    forbidden = ("torch", "bench.api", "bench.core.train", "bench.evaluation", "bench.infra.environment",
                 "bench.pruning", "bench.models", "bench.data")
    assert offending(under("bench.leaderboard"), forbidden) == {}


def test_nothing_imports_the_cli():
    """`python -m bench` (bench/__main__.py) is the CLI's entry point; nothing else imports it."""
    users = sorted({i.source for i in repository().imports if i.target == "bench.ui.cli"})
    assert users == ["bench.__main__"]


def test_the_defaults_module_imports_nothing():
    """The CLI reads its defaults from it before importing torch (`bench --help` stays fast)."""
    assert imported("bench.defaults") == []


def test_the_run_identity_has_one_builder():
    """Only bench/evaluation/spec.py hashes a run's specification: nobody else builds record names."""
    builders = [m for m, path in FILES.items() if "def record_path" in path.read_text() or "def record_filename" in path.read_text()]
    assert [str(FILES[m].relative_to(ROOT)) for m in builders] == ["bench/evaluation/spec.py"]


MAX_LINES = 400  # a module longer than this does more than one job: split it by job


@pytest.mark.parametrize("module", sorted(FILES), ids=str)
def test_no_module_is_over_400_lines(module):
    assert len(FILES[module].read_text(encoding="utf-8").splitlines()) <= MAX_LINES
