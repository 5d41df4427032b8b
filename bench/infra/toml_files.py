"""Reading the project's TOML files (protocols, sweep grids, the shipped-checkpoint index): one parser
and one wording for every problem, each a one-line BenchError naming the file and the place in it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from bench.errors import BenchError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a table", list: "a list"}


MAX_BYTES = 4 * 2**20  # far above any protocol, grid or index; /dev/zero would otherwise be read forever


def read(path: str | Path, what: str) -> dict[str, Any]:
    """The table in the file at `path` (`what` names the kind of file in errors: "sweep file"): a regular
    file of at most MAX_BYTES."""
    path = Path(path)
    try:
        if not path.exists():
            raise BenchError(f"{what} {path} does not exist")
        if path.is_dir():
            raise BenchError(f"{what} {path} is a folder, not a file")
        if not path.is_file():
            raise BenchError(f"{what} {path} is not a regular file (a device, a pipe or a socket)")
        if path.stat().st_size > MAX_BYTES:
            raise BenchError(f"{what} {path} is larger than {MAX_BYTES // 2**20} MB")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BenchError(f"cannot read {what} {path}: not utf-8 text") from None
    except OSError as exc:
        raise BenchError(f"cannot read {what} {path}: {exc.strerror or exc.__class__.__name__}") from None
    return parse(text, source=str(path))


def parse(text: str, *, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{source}: invalid TOML: {exc}") from None


def check_keys(table: dict, allowed: Iterable[str], fail: Callable[[str], BenchError], noun: str = "key") -> None:
    """Every key of `table` is one of `allowed`; the first that is not fails with the closest known one."""
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            hint = did_you_mean(key, allowed, cutoff=0.5) or f" (known: {', '.join(allowed)})"
            raise fail(f"unknown {noun} {key!r}{hint}")


def is_kind(value: Any, kinds: type | tuple[type, ...]) -> bool:
    """isinstance, except that true/false is never a number (bool is an int subclass in Python)."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def kind_name(kinds: type | tuple[type, ...]) -> str:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return "a number" if float in kinds else _KIND_NAMES.get(kinds[0], kinds[0].__name__)
