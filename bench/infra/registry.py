"""One registry type for every plugin kind (adapters, models, datasets).

Names are normalized on registration *and* lookup (case, `_` vs `-`), a duplicate raises instead of
silently overwriting, unknown names get a did-you-mean, and third-party packages can add entries
through a Python entry-point group that is loaded lazily on first lookup. A plugin that fails to
load never breaks the others: it is one warning line on stderr, and an error only when asked for.
"""

from __future__ import annotations

import fnmatch
import sys
from importlib.metadata import entry_points
from typing import Callable, Generic, Iterator, TypeVar

from bench.errors import BenchError, UnknownNameError, did_you_mean

T = TypeVar("T")


def normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-")


class Registry(Generic[T]):
    def __init__(
        self, kind: str, entry_point_group: str | None = None, validate: Callable[[object], str | None] | None = None
    ):
        """`validate(obj)`: why an entry point's object cannot be registered, or None when it can."""
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.validate = validate
        self._items: dict[str, T] = {}
        self._failed: dict[str, str] = {}  # normalized entry-point name -> why it did not load
        self._entry_points_loaded = entry_point_group is None

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: `@ADAPTERS.register()` registers a class under its own `name` attribute, so the
        name is written once; `@ADAPTERS.register("l1-norm")` must then agree with it."""

        def add(obj: T) -> T:
            own = getattr(obj, "name", None)
            if name is None and not isinstance(own, str):
                raise BenchError(f"{obj!r} has no `name` to register it under; pass one: register(\"my-name\")")
            if name is not None and isinstance(own, str) and normalize(own) != normalize(name):
                raise BenchError(f"{obj!r} is registered as {name!r} but names itself {own!r}: write the name once (register())")
            self.add(name if name is not None else own, obj)
            return obj

        return add

    def add(self, name: str, obj: T) -> None:
        key = normalize(name)
        if not key:
            raise BenchError(f"cannot register a {self.kind} with an empty name")
        if key in self._items and self._items[key] is not obj:
            raise BenchError(f"{self.kind} {name!r} is already registered by {self._items[key]!r}")
        self._items[key] = obj

    def get(self, name: str) -> T:
        key = normalize(name)
        self._load_entry_points(asked=key)
        if key in self._items:
            return self._items[key]
        if key in self._failed:
            raise BenchError(f"{self.kind} {name!r} {self._failed[key]}")
        raise UnknownNameError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        hint = did_you_mean(normalize(name), self._items, n=3, cutoff=0.5)
        return f"unknown {self.kind} {name!r}{hint} (see `bench list {self.kind}s`)"

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return normalize(name) in self._items

    def names(self, pattern: str = "*") -> list[str]:
        self._load_entry_points()
        return sorted(n for n in self._items if fnmatch.fnmatch(n, normalize(pattern)))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load_entry_points(self, asked: str | None = None) -> None:
        """Load every entry point once. A failure is kept for `get()` and warned about in one line
        (except for the name being asked for, whose error says it all)."""
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.entry_point_group):
            key = normalize(ep.name)
            try:
                # Loading the module runs its @register decorator; a plain object is registered by its EP name.
                obj = ep.load()
                if key not in self._items:
                    reason = self.validate(obj) if self.validate else None
                    if reason:
                        raise BenchError(reason)
                    self.add(ep.name, obj)
            except Exception as exc:  # noqa: BLE001 (a plugin's import may raise anything)
                why = str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"
                why = " ".join(why.split())  # one line, whatever the plugin raised
                self._failed[key] = f"failed to load (entry point {ep.name} = {ep.value!r} in {_package(ep)}): {why}"
                if key != asked:
                    print(f"bench: warning: {self.kind} plugin {ep.name!r} {self._failed[key]}; the others still work", file=sys.stderr)


def _package(ep) -> str:
    """The distribution that declares `ep`, for messages (its metadata may be as broken as its code)."""
    try:
        return f"package {ep.dist.name} {ep.dist.version}"
    except Exception:  # noqa: BLE001 (no dist, or unreadable metadata)
        return "unknown package"
