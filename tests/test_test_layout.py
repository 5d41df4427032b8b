"""The tests mirror the packages: the tests of bench/<package>/<module>.py live in tests/<package>/test_<module>.py
(adapters/<module>.py, installed as bench.adapters: tests/adapters/; bench/<module>.py: tests/test_<module>.py),
so that a module's tests are found by its path.

Checked on the source tree, from the imports of the tests (their syntax trees, nothing is run):
- every module in bench/ and adapters/ is imported by at least one test file of its own folder;
- every test file of a package's folder is named after a module of that package (`test_<module>.py`, or
  `test_<module>_<aspect>.py`; a package's __init__.py: `test_<package>.py`);
- every folder of tests is a package (an __init__.py), so that test files of the same name never clash.
Cross-cutting tests (a whole evaluation through the CLI, resume, a full disk, untrusted input, the
repository's own content) live in tests/integration/, which mirrors no package.
"""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.paths import REPO, TESTS

# Modules with no test of their own folder: each with the reason. Keep this short.
EXEMPT: dict[str, str] = {}

# Test folders that mirror no package, and why.
NOT_MIRRORS = {
    "integration": "cross-cutting tests: several packages end to end",
    "benchmarks": "timings behind `bench perf` (marker perf), not tests of one module",
    "helpers": "helpers shared by the tests, not tests",
}
# Test files at the top that test no root module, and why.
TOP_LEVEL_EXTRAS = {
    "test_architecture.py": "the architecture's rules, checked on the source as a whole",
    "test_test_layout.py": "this file: the test suite's own layout",
}


@dataclass(frozen=True)
class Module:
    path: str  # as git lists it, e.g. bench/pruning/cost.py
    name: str  # as imported, e.g. bench.pruning.cost
    folder: Path  # where its tests live, e.g. tests/pruning
    test_name: str  # the file named after it, e.g. test_cost.py
    code: bool  # False for a package __init__ with nothing but a docstring: importing a submodule imports it


def _tracked(*folders: str) -> list[str]:
    """The source files git tracks (not bench/adapters & co, the checkout's untracked links to adapters/,
    protocols/ and submissions/); outside a git checkout, the files on disk outside linked folders."""
    try:
        listed = subprocess.run(["git", "ls-files", "--", *folders], cwd=REPO, capture_output=True, text=True, check=True)
        files = listed.stdout.split()
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            relative = path.relative_to(REPO)
            if not any((REPO / Path(*relative.parts[:i])).is_symlink() for i in range(1, len(relative.parts))):
                found.append(relative.as_posix())
    return found


def _has_code(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
               and not (isinstance(n, ast.ImportFrom) and n.module == "__future__") for n in body)


def source_modules() -> list[Module]:
    modules = []
    for path in _tracked("bench", "adapters"):
        parts = Path(path).with_suffix("").parts
        if not path.endswith(".py"):
            continue
        dotted = ("bench", "adapters", *parts[1:]) if parts[0] == "adapters" else parts
        package = dotted[1:-1] if dotted[-1] != "__init__" else dotted[1:-1]
        is_init = dotted[-1] == "__init__"
        name = ".".join(dotted[:-1] if is_init else dotted)
        if is_init:
            folder = TESTS.joinpath(*dotted[1:-1])
            test_name = f"test_{dotted[-2]}.py"
        else:
            folder = TESTS.joinpath(*package)
            test_name = f"test_{dotted[-1].strip('_')}.py"
        modules.append(Module(path, name, folder, test_name, _has_code(REPO / path)))
    return modules


def imported(test_file: Path) -> set[str]:
    """Every module a test file imports (anywhere in it): `import a.b`, `from a import b` (a, and a.b should
    b be a module) and `importlib.import_module("a.b")`."""
    found = set()
    for node in ast.walk(ast.parse(test_file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


def test_every_module_is_imported_by_a_test_of_its_own_folder():
    modules = source_modules()
    assert len(modules) > 50 and any(m.name == "bench.adapters.l1_norm" for m in modules)
    missing = []
    for m in modules:
        if m.path in EXEMPT:
            continue
        tests = sorted(m.folder.glob("test_*.py"))
        names = set().union(*(imported(t) for t in tests)) if tests else set()
        covered = m.name in names or (not m.code and any(n.startswith(m.name + ".") for n in names))
        if not covered:
            missing.append(f"{m.path}: no test in {m.folder.relative_to(REPO)}/ imports {m.name}")
    assert missing == [], "\n".join(missing)
    assert set(EXEMPT) <= {m.path for m in modules}, "an exemption names a module that no longer exists"


def test_every_test_file_is_named_after_a_module_of_its_folder():
    modules = source_modules()
    names_by_folder: dict[Path, set[str]] = {}
    for m in modules:
        names_by_folder.setdefault(m.folder, set()).add(m.test_name.removesuffix(".py"))
    wrong = []
    for test in sorted(TESTS.rglob("test_*.py")):
        folder = test.parent
        top = test.relative_to(TESTS).parts[0]
        if top in NOT_MIRRORS:
            continue
        if folder == TESTS and test.name in TOP_LEVEL_EXTRAS:
            continue
        allowed = names_by_folder.get(folder, set())
        stem = test.stem
        if not any(stem == name or stem.startswith(name + "_") for name in allowed):
            where = f"bench/{folder.relative_to(TESTS)}/" if folder != TESTS else "bench/"
            wrong.append(f"{test.relative_to(REPO)}: names no module of {where} (expected one of {sorted(allowed)})")
    assert wrong == [], "\n".join(wrong)


def test_every_test_folder_is_a_package_and_mirrors_a_package_or_says_why_not():
    mirrored = {m.folder for m in source_modules()}
    problems = []
    for folder in sorted({t.parent for t in TESTS.rglob("test_*.py")}):
        if not (folder / "__init__.py").is_file():
            problems.append(f"{folder.relative_to(REPO)}: no __init__.py (same-named test files would clash)")
        top = folder.relative_to(TESTS).parts[:1]
        if folder not in mirrored and not (top and top[0] in NOT_MIRRORS):
            problems.append(f"{folder.relative_to(REPO)}: mirrors no package of bench/ (or add it to NOT_MIRRORS, with why)")
    assert problems == [], "\n".join(problems)
