"""The adapter registry. Built-in adapters are imported explicitly (no folder scanning); third-party
packages register through the `prunebench.adapters` entry-point group, pointing at their adapter class
(or at a module whose import registers it)."""

from __future__ import annotations

import importlib

from bench.errors import BenchError
from bench.infra.registry import Registry


def _not_an_adapter(obj: object) -> str | None:
    """Why a plugin's entry point cannot be registered (checked at load, so a wrong one is a warning)."""
    from bench.pruning.interface import Adapter

    if isinstance(obj, type) and issubclass(obj, Adapter):
        return None
    return f"it names {obj!r}, which is not a bench.pruning.Adapter subclass"


ADAPTERS: Registry[type] = Registry("adapter", entry_point_group="prunebench.adapters", validate=_not_an_adapter)

BUILTIN_MODULES = (
    "l1_norm",
    "global_magnitude",
    "hrankplus",
    "random_pruning",
    "taylor",
    "fpgm",
    "lamp",
    "sfp",
    "slimming",
    "width_scaled",
    "torch_pruning_importance",
)
_builtins_loaded = False


def load_builtin_adapters() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(f"bench.adapters.{module}")


def get_adapter(name: str) -> type:
    from bench.pruning.interface import Adapter

    load_builtin_adapters()
    cls = ADAPTERS.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise BenchError(f"adapter {name!r} is registered as {cls!r}, which is not a bench.pruning.Adapter subclass")
    return cls


def adapter_names() -> list[str]:
    load_builtin_adapters()
    return ADAPTERS.names()
