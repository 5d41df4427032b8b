"""Read every submission file, validate it and set the bad ones aside with the reasons why.

A file is rejected when it is not JSON, holds NaN/Infinity, fails the schema or the cross-field
checks (bench.core.records.problems), carries HTML/script markup in any string, or duplicates an earlier
file. Each reason is `field/path: message`, so the report names the file *and* the field.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from bench.core.config import canonical_json
from bench.core.records import (
    VERIFICATION_SUFFIX,
    field_path,
    name_problem,
    parse,
    problems,
    read_text,
    verification_path,
)
from bench.core.verification import judge
from bench.errors import BenchError

# `<` followed by a letter, `/` or `!` opens a tag, end tag, comment or doctype; `javascript:` is a URL
# that runs code. `a < b` or `<2019>` stay allowed: they render escaped.
_MARKUP = re.compile(r"<[A-Za-z/!]|javascript\s*:", re.IGNORECASE)
# Fields that differ between two copies of the same result; content identity ignores them.
_VOLATILE = ("run_id", "created")


@dataclass(frozen=True)
class Submission:
    file: str  # posix path relative to the submissions folder
    record: dict
    verification: dict | None = None  # `bench verify`'s file beside the record, when there is one


def verification(path: Path, record: dict) -> dict | None:
    """The verification file beside a record, if it is one for this very record (same run_id), with its
    outcome judged again here from the rerun's numbers against the record (the file's own `status` is
    not read). A file this cannot judge (another shape, markup in a string) marks nothing."""
    try:
        found = parse(read_text(verification_path(path)))
    except (BenchError, ValueError):
        return None
    if not (isinstance(found, dict) and found.get("run_id") == record["run_id"]) or content_problems(found):
        return None
    try:
        judged = judge(record, found)
        shown = {"device": str(found["environment"]["device"]), "verifier": str(found.get("verifier", "not stated")),
                 "seeds": [int(s) for s in found["seeds"]]}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return {**shown, **judged}


@dataclass(frozen=True)
class Rejection:
    file: str
    reasons: tuple[str, ...]


class _Constant:
    """Stands in for NaN/Infinity while parsing so the walk can name the field that held it."""

    def __init__(self, token: str) -> None:
        self.token = token


def _walk(obj: Any, parts: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every value with its path; a dict key is yielded as a value at its own path too."""
    yield parts, obj
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield (*parts, key), key
            yield from _walk(value, (*parts, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _walk(value, (*parts, index))


def content_problems(obj: Any) -> list[str]:
    """Non-finite numbers and markup anywhere in a parsed document (what the schema cannot see)."""
    found: list[str] = []
    for parts, value in _walk(obj):
        if isinstance(value, _Constant):
            found.append(f"{field_path(parts)}: {value.token} is not allowed")
        elif isinstance(value, float) and not math.isfinite(value):  # 1e999 parses as inf without a constant
            found.append(f"{field_path(parts)}: {value} is not a finite number")
        elif isinstance(value, str) and _MARKUP.search(value):
            found.append(f"{field_path(parts)}: contains HTML/script markup")  # never repeated: the pages would show it
    return found


def check_text(text: str) -> tuple[dict | None, list[str]]:
    """Parse and validate one file's text: (record, []) when good, (None, reasons) when not."""
    try:
        parsed = parse(text, parse_constant=_Constant)
    except ValueError as exc:
        return None, [f"(top level): not valid JSON ({exc})"]
    found = content_problems(parsed)
    if any(isinstance(v, _Constant) for _, v in _walk(parsed)):
        return None, found  # the schema would only repeat the same fields with a confusing message
    found += problems(parsed)
    return (parsed, []) if not found else (None, found)


def submission_files(folder: Path, exclude: Path | None = None) -> list[Path]:
    """`*.json` below `folder`, sorted; skips schema.json, hidden paths and the `exclude` folder. Symbolic
    links are listed (to be rejected by name) but never followed: nothing outside the folder is read."""
    found = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (exclude is not None and (here / d).resolve() == exclude))
        linked_dirs = [here / d for d in dirs if (here / d).is_symlink()]
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
        for path in [here / n for n in names if n.endswith(".json")] + linked_dirs:
            if path.name == "schema.json" or path.name.endswith(VERIFICATION_SUFFIX) or path.name.startswith("."):
                continue
            if path.is_symlink() or path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def load_folder(folder: Path, exclude: Path | None = None) -> tuple[list[Submission], list[Rejection]]:
    """Good submissions and rejected files, both in file order; the first of two duplicates is kept."""
    good: list[Submission] = []
    rejected: list[Rejection] = []
    by_run_id: dict[str, str] = {}
    by_content: dict[str, str] = {}
    for path in submission_files(folder, exclude):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():  # it could point anywhere (/etc/passwd, another repository's records)
            rejected.append(Rejection(name, ("(top level): a symbolic link; a submission is a file inside the folder",)))
            continue
        if (bad_name := name_problem(name)) is not None:
            rejected.append(Rejection(name, (bad_name,)))  # the name reaches the pages only through their escapers
            continue
        try:
            text = read_text(path)
        except BenchError as exc:
            rejected.append(Rejection(name, (f"(top level): {str(exc).removeprefix(f'{path}: ')}",)))
            continue
        record, reasons = check_text(text)
        if record is None:
            rejected.append(Rejection(name, tuple(reasons)))
            continue
        content = canonical_json({k: v for k, v in record.items() if k not in _VOLATILE})
        if record["run_id"] in by_run_id:
            first = by_run_id[record["run_id"]]
            rejected.append(Rejection(name, (f"run_id: duplicate of {first} (same run_id {record['run_id']})",)))
        elif content in by_content:
            first = by_content[content]
            reason = f"(top level): duplicate of {first} (identical apart from run_id and created)"
            rejected.append(Rejection(name, (reason,)))
        else:
            by_run_id[record["run_id"]] = by_content[content] = name
            good.append(Submission(name, record, verification(path, record)))
    return good, rejected
