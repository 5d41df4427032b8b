"""The import rules of docs/architecture.md, read from the source: which layer each bench module is
in, every bench-internal import (module level or inside a function, absolute or relative), and what
breaks the rules (an upward or sideways import, a cycle between files, a lazy import without its
reason). tests/test_architecture.py runs it on the repository and on planted trees."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

LAYERS_HEADING = "## Layers, top to bottom"
LAZY_REASON = re.compile(r"#\s*lazy:\s*\S")


def read_layers(doc: Path) -> list[list[str]]:
    """The layers listed in the doc's section LAYERS_HEADING: the first fenced block after it, one layer
    a line, top first; a line names its packages separated by commas (siblings), `#` starts a comment."""
    text = doc.read_text(encoding="utf-8")
    if LAYERS_HEADING not in text:
        raise ValueError(f"{doc}: no section {LAYERS_HEADING!r}")
    block = re.search(r"```[^\n]*\n(.*?)```", text.split(LAYERS_HEADING, 1)[1], re.S)
    if block is None:
        raise ValueError(f"{doc}: section {LAYERS_HEADING!r} has no fenced list of layers")
    layers = []
    for line in block.group(1).splitlines():
        names = [name.strip() for name in line.split("#", 1)[0].split(",") if name.strip()]
        if names:
            layers.append(names)
    return layers


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. bench.core.train
    target: str  # the imported module, e.g. bench.infra.devices or torch.nn
    line: int
    in_function: bool
    has_reason: bool  # a `# lazy: why` comment on its line or the line above
    type_only: bool = False  # under `if TYPE_CHECKING:`: never executed, a type annotation's name only

    def where(self, files: dict[str, Path], root: Path) -> str:
        return f"{files[self.source].relative_to(root)}:{self.line}"


def bench_files(root: Path) -> dict[str, Path]:
    """Module name → file, for the real files of `bench/` (not the symlinked copies of adapters/,
    protocols/, submissions/ that make a checkout import like the installed package) and `adapters/`
    (installed as bench.adapters)."""
    files = {}
    for base, package in ((root / "bench", "bench"), (root / "adapters", "bench.adapters")):
        real = base.resolve()
        for path in sorted(base.rglob("*.py")):
            if path.resolve() != real / path.relative_to(base):
                continue  # reached through a symlink
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join([package, *parts])] = path
    return files


def imports(module: str, path: Path, known: set[str]) -> list[Import]:
    """Every import in `path` (of `module`). `from X import y` imports the module X.y where that is a
    bench module in `known`, else X; relative imports are resolved against `module`'s package."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source, filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    type_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block) for stmt in block.body for n in ast.walk(stmt)}
    for node, in_function in _walk(tree, False):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in dict.fromkeys(targets):
            if is_bench(target):
                target = _existing(target, known)
            found.append(Import(module, target, node.lineno, in_function, _has_reason(lines, node), id(node) in type_only))
    return found


def _is_type_checking(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def is_bench(name: str) -> bool:
    return name == "bench" or name.startswith("bench.")


def _walk(node: ast.AST, in_function: bool):
    for child in ast.iter_child_nodes(node):
        yield child, in_function
        yield from _walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))


def _existing(name: str, known: set[str]) -> str:
    """The module an import loads: `import bench.a.b` of a name that is not a module means its package."""
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def _has_reason(lines: list[str], node: ast.stmt) -> bool:
    """A `# lazy:` reason on the import itself, or heading the run of import lines it belongs to (on a
    comment line just above the run, or on the run's first import)."""
    if any(LAZY_REASON.search(line) for line in lines[node.lineno - 1 : node.end_lineno]):
        return True
    for line in reversed(lines[: node.lineno - 1]):
        above = line.strip()
        if LAZY_REASON.search(above) and above.startswith(("#", "from ", "import ")):
            return True
        if not above.startswith(("from ", "import ")):
            return False
    return False


class Layering:
    """The layers and every bench-internal import of the tree at `root`."""

    def __init__(self, root: Path, layers: list[list[str]]):
        self.root = root
        self.layers = layers
        self.files = bench_files(root)
        self.all_imports = [i for module, path in self.files.items() for i in imports(module, path, set(self.files))]
        self.imports = [i for i in self.all_imports if is_bench(i.target)]  # bench-internal ones

    def imported_by(self, module: str) -> list[str]:
        """Every module `module` imports, bench or not, in its own order."""
        return [i.target for i in self.all_imports if i.source == module]

    def package(self, module: str) -> str | None:
        """The layer entry a module belongs to: the longest listed package containing it (the root
        package `bench` holds only bench/__init__.py)."""
        names = [name for layer in self.layers for name in layer]
        holders = [n for n in names if module == n or (n != "bench" and module.startswith(n + "."))]
        return max(holders, key=len, default=None)

    def level(self, package: str) -> int:
        return next(i for i, layer in enumerate(self.layers) if package in layer)

    def unlisted(self) -> list[str]:
        """Modules in no layer."""
        return sorted(m for m in self.files if self.package(m) is None)

    def crossings(self) -> list[str]:
        """Imports of a higher layer, or of a sibling on the same line."""
        out = []
        for i in self.imports:
            mine, theirs = self.package(i.source), self.package(i.target)
            if mine is None or theirs is None or mine == theirs:
                continue
            if self.level(theirs) < self.level(mine):
                out.append(f"{i.where(self.files, self.root)}: {mine} imports {i.target} from the higher layer {theirs}")
            elif self.level(theirs) == self.level(mine):
                out.append(f"{i.where(self.files, self.root)}: {mine} imports {i.target} from its sibling {theirs}")
        return out

    def unexplained_lazy_imports(self) -> list[str]:
        """Imports of another bench package inside a function without a `# lazy: why` comment."""
        return [
            f"{i.where(self.files, self.root)}: imports {i.target} inside a function without a `# lazy: ...` reason"
            for i in self.imports
            if i.in_function and not i.has_reason and self.package(i.source) != self.package(i.target)
        ]

    def cycles(self) -> list[list[str]]:
        """One cycle (a list of modules, the first repeated at the end) per strongly connected group of
        files that import each other, directly or not."""
        graph: dict[str, set[str]] = {m: set() for m in self.files}
        for i in self.imports:
            # A type-only import never runs: it names the type of a caller's value (`job: PruneJob` in the
            # modules PruneJob calls), and is still held to the layer order above.
            if i.target != i.source and not i.type_only:
                graph[i.source].add(i.target)
        return [_cycle_in(group, graph) for group in _strongly_connected(graph) if len(group) > 1]


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on long import chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the group's first module (breadth-first, within the group)."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & group):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(group)}")
