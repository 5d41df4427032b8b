"""Pruning targets: a global ratio, HRankPlus-style per-layer compress rates, a named configuration,
or a cost: a FLOPs speed-up (dense FLOPs ÷ pruned FLOPs, the field's convention) that the search in
bench/pruning/cost.py turns into the adapter's one free parameter.

Compress-rate strings such as `[0.]+[0.18]*29` are parsed with `ast.parse` and a whitelist of node
types (lists of numbers, `+` between lists, `*` by an integer): never `eval`, bounded in length.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

from bench.errors import BenchError

MAX_RATE_CHARS = 2000
MAX_RATE_ENTRIES = 10000
MAX_SPEEDUP = 1e6  # far beyond any network's reach; a bound on what the search is asked


@dataclass(frozen=True)
class Target:
    """Exactly one of the fields is set. Rates are fractions *removed* (0.5 = half the channels);
    `speedup` is dense FLOPs ÷ pruned FLOPs (3.0: a third of the FLOPs kept)."""

    ratio: float | None = None
    compress_rate: tuple[float, ...] | None = None
    config: str | None = None
    speedup: float | None = None

    def __post_init__(self) -> None:
        given = [v is not None for v in (self.ratio, self.compress_rate, self.config, self.speedup)]
        if sum(given) != 1:
            raise BenchError("give exactly one pruning target: --ratio, --speedup, --compress-rate or --config")
        if self.ratio is not None:
            check_rate(self.ratio, "--ratio", allow_zero=False)
        if self.speedup is not None:
            check_speedup(self.speedup)

    def describe(self) -> str:
        if self.speedup is not None:
            return f"speedup={self.speedup:g}"
        if self.ratio is not None:
            return f"ratio={self.ratio:g}"
        if self.compress_rate is not None:
            return "compress_rate=" + format_compress_rate(self.compress_rate)
        return f"config={self.config}"

    def to_dict(self) -> dict:
        out = {
            "ratio": self.ratio,
            "compress_rate": list(self.compress_rate) if self.compress_rate is not None else None,
            "config": self.config,
        }
        # Named only when set, so that the identities (hashes) of runs specified before it stay as they were.
        return {**out, "speedup": self.speedup} if self.speedup is not None else out

    @classmethod
    def from_dict(cls, data: dict) -> "Target":
        return cls(
            ratio=data.get("ratio"),
            compress_rate=tuple(data["compress_rate"]) if data.get("compress_rate") is not None else None,
            config=data.get("config"),
            speedup=data.get("speedup"),
        )


@dataclass(frozen=True)
class KeepCounts:
    """A cost target resolved (bench.pruning.cost): the channels every unit keeps. It is how a
    `--speedup` reaches the engine; the run's identity keeps the speed-up asked for, not this."""

    counts: tuple[tuple[str, int], ...]
    speedup: float | None = None

    def describe(self) -> str:
        return f"speedup={self.speedup:g}" if self.speedup is not None else "keep counts"

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)

    def to_dict(self) -> dict:
        """What a run that prunes while it trains (SFP's soft phase) is keyed by."""
        return {"keep": self.as_dict(), "speedup": self.speedup}


def check_speedup(value: float, what: str = "--speedup") -> float:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 1 < value <= MAX_SPEEDUP):
        raise BenchError(f"{what} must be a FLOPs speed-up above 1 (dense FLOPs / pruned FLOPs), got {value!r}")
    return float(value)


def check_rate(value: float, what: str, *, allow_zero: bool = True) -> float:
    low_ok = value >= 0 if allow_zero else value > 0
    if not (isinstance(value, (int, float)) and math.isfinite(value) and low_ok and value < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise BenchError(f"{what} must be in {interval}, got {value!r}")
    return float(value)


def parse_compress_rate(text: str) -> tuple[float, ...]:
    """`[0.]+[0.18]*29` → (0.0, 0.18, ..., 0.18). Also accepts `0.3*5` style bare terms and `a,b,c`."""
    what = "--compress-rate"
    if len(text) > MAX_RATE_CHARS:
        raise BenchError(f"{what} is longer than {MAX_RATE_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise BenchError(f"{what} {text!r} is not a rate list like [0.]+[0.18]*29") from None
    rates = _rate_list(tree, what, text)
    return tuple(check_rate(r, f"{what} entry") for r in rates)


def _rate_list(node: ast.AST, what: str, text: str) -> list[float]:
    bad = BenchError(f"{what} {text!r} is not a rate list like [0.]+[0.18]*29")
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_number(e, bad) for e in node.elts]
    if isinstance(node, ast.Constant):
        return [_number(node, bad)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        out = _rate_list(node.left, what, text) + _rate_list(node.right, what, text)
        if len(out) > MAX_RATE_ENTRIES:
            raise BenchError(f"{what} has more than {MAX_RATE_ENTRIES} entries")
        return out
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        items, count = (node.left, node.right) if not _is_int(node.left) else (node.right, node.left)
        if not _is_int(count):
            raise bad
        n = count.value  # type: ignore[attr-defined]
        base = _rate_list(items, what, text)
        if n < 0 or len(base) * n > MAX_RATE_ENTRIES:
            raise BenchError(f"{what} repeats to more than {MAX_RATE_ENTRIES} entries or a negative count")
        return base * n
    raise bad


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _number(node: ast.AST, bad: BenchError) -> float:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        raise BenchError("compress rates must be in [0, 1); got a negative entry")
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    raise bad


def format_compress_rate(rates: tuple[float, ...]) -> str:
    """Run-length form, the inverse of `parse_compress_rate`: (0, .18, .18) → `[0.0]+[0.18]*2`."""
    parts: list[str] = []
    i = 0
    while i < len(rates):
        j = i
        while j < len(rates) and rates[j] == rates[i]:
            j += 1
        parts.append(f"[{rates[i]!r}]" + (f"*{j - i}" if j - i > 1 else ""))
        i = j
    return "+".join(parts)
