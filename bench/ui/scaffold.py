"""`bench new-adapter NAME`: write a ready-to-fill adapter module.

The file comes from the package-data template bench/ui/templates/adapter.py.tmpl: a docstring skeleton
(citation, structured or unstructured, hyperparameters with the paper's defaults, differences from the
reference code), a hyperparameter dataclass, the registration, and a placeholder `score()` (the L2
norm of each filter) that already passes the conformance suite.
"""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template

from bench.errors import BenchError
from bench.infra.files import write_atomic
from bench.infra.registry import normalize

_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


@dataclass(frozen=True)
class Scaffold:
    path: Path
    name: str  # the registered name, e.g. "l2-norm"
    module: str  # "l2_norm"
    class_name: str  # "L2Norm"
    in_checkout: bool  # written into a prunebench checkout's adapters/


def identifiers(name: str) -> tuple[str, str, str]:
    """(registered name, module name, class name) for NAME, or a BenchError saying what is wrong."""
    if not _NAME.fullmatch(name):
        raise BenchError(
            f"invalid adapter name {name!r}: use lowercase letters and digits, starting with a letter, "
            "with single '-' between words (e.g. l2-norm)"
        )
    module = name.replace("-", "_")
    if keyword.iskeyword(module) or module in sys.stdlib_module_names or module in sys.builtin_module_names:
        raise BenchError(f"invalid adapter name {name!r}: module {module!r} would shadow a Python module or keyword")
    class_name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name))
    return normalize(name), module, class_name


def find_checkout(start: Path) -> Path | None:
    """The root of the prunebench checkout containing `start` (pyproject.toml naming prunebench, with
    adapters/ beside it), or None."""
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if (folder / "adapters").is_dir() and pyproject.is_file():
            try:
                text = pyproject.read_text(encoding="utf-8")
            except OSError:
                continue
            if re.search(r'^name\s*=\s*"prunebench"\s*$', text, re.M):
                return folder
    return None


def render(name: str, module: str, class_name: str) -> str:
    template = Template((files("bench.ui.templates") / "adapter.py.tmpl").read_text(encoding="utf-8"))
    return template.substitute(name=name, module=module, class_name=class_name, hparams_class=f"{class_name}Hparams")


def new_adapter(name: str, out: str | Path | None = None, *, cwd: Path | None = None) -> Scaffold:
    """Write NAME's adapter module into `out` (default: adapters/ of the checkout around `cwd`, else `cwd`)."""
    # lazy: the registry imports torch and every adapter; the scaffold's other helpers work without them
    from bench.pruning.registry import adapter_names, get_adapter

    registered, module, class_name = identifiers(name)
    if registered in adapter_names():
        taken = get_adapter(registered)
        raise BenchError(f"adapter {registered!r} is already registered (by {taken.__module__}); choose another name")
    cwd = Path.cwd() if cwd is None else cwd
    checkout = find_checkout(cwd.resolve())
    if out is not None:
        folder = Path(out)
    elif checkout is not None:
        folder = checkout / "adapters"
    else:
        folder = cwd
    if folder.exists() and not folder.is_dir():
        raise BenchError(f"--out {folder}: not a folder")
    path = folder / f"{module}.py"
    if path.exists():
        raise BenchError(f"{path} already exists; refusing to overwrite it (pick another name or --out folder)")
    write_atomic(path, render(registered, module, class_name))
    in_checkout = checkout is not None and path.resolve().parent == (checkout / "adapters").resolve()
    return Scaffold(path, registered, module, class_name, in_checkout)


def import_path(path: Path) -> str:
    """The dotted module path of the file `path`: the packages (folders with __init__.py) above it
    are part of it, so `--out src/my_package` gives my_package.NAME, wherever that folder is."""
    folder, parts = path.resolve().parent, [path.stem]
    while (folder / "__init__.py").is_file() and folder != folder.parent:
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts)


def entry_point(s: Scaffold) -> str:
    """The pyproject.toml line that registers the generated class (the template defines `class_name`)."""
    return f'{s.name} = "{import_path(s.path)}:{s.class_name}"'


def next_steps(s: Scaffold) -> list[str]:
    if s.in_checkout:
        register = [f'  1. add "{s.module}" to BUILTIN_MODULES in bench/pruning/registry.py']
    else:
        top_level = "." not in import_path(s.path)  # no package around it: it must ship as a py-module
        register = [
            "  1. register it in your package's pyproject.toml (see tests/example_adapter_package):",
            '       [project.entry-points."prunebench.adapters"]',
            f"       {entry_point(s)}",
            *([f'     ({s.path.parent} has no __init__.py: ship {s.module}.py as a top-level module, e.g. '
               f'[tool.setuptools] py-modules = ["{s.module}"])'] if top_level else []),
        ]
    return [
        f"wrote {s.path} (adapter {s.name!r}, class {s.class_name})",
        "next:",
        *register,
        "  2. fill in the docstring's TODOs, the hyperparameters and score()",
        f"  3. run the conformance suite: pytest tests/pruning/test_conformance.py -k {s.name}"
        + ("" if s.in_checkout else f' (outside a checkout: python -c "from bench.pruning.conformance import check_adapter; check_adapter(\'{s.name}\')")'),
        f"  4. look at a pruned model: bench prune --adapter {s.name} --model resnet56 --dataset cifar10 --ratio 0.4",
    ]
