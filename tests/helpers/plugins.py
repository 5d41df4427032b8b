"""A plugin distribution as pip would install it (a *.dist-info folder on sys.path): one good adapter and
three broken `prunebench.adapters` entry points. The `plugins` fixture (tests/conftest.py) installs it."""

import sys
from contextlib import contextmanager
from pathlib import Path


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


@contextmanager
def installed(folder: Path, monkeypatch):
    """Install (on sys.path) the distribution in `folder`, and let the global registry load entry points
    afresh; the registry and sys.modules are restored afterwards."""
    from bench.pruning import ADAPTERS, get_adapter

    (folder / "good_plugin_mod.py").write_text(GOOD_MODULE)
    (folder / "broken_plugin_dep.py").write_text("import prunebench_no_such_dependency  # noqa\n")
    info = folder / f"example_plugins-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {VERSION}\n")
    (info / "top_level.txt").write_text("good_plugin_mod\nbroken_plugin_dep\n")
    eps = "".join(f"{name} = {value}\n" for name, value in {GOOD: "good_plugin_mod:GoodPlugin", **BROKEN}.items())
    (info / "entry_points.txt").write_text(f"[prunebench.adapters]\n{eps}")
    get_adapter("l1-norm")  # built-ins (and any installed plugins) loaded before, so restoring keeps them
    saved = dict(ADAPTERS._items), dict(ADAPTERS._failed), ADAPTERS._entry_points_loaded
    monkeypatch.syspath_prepend(str(folder))
    ADAPTERS._entry_points_loaded = False
    try:
        yield folder
    finally:
        ADAPTERS._items, ADAPTERS._failed, ADAPTERS._entry_points_loaded = saved
        for module in MODULES:
            sys.modules.pop(module, None)


def warnings(err: str) -> list[str]:
    """The lines of stderr that warn about a broken adapter plugin."""
    return [line for line in err.splitlines() if line.startswith("bench: warning: adapter plugin")]
