"""Submission records: validate against `submissions/schema.json`, write atomically (bench/infra/files.py),
read back.

Validation is the JSON Schema (jsonschema) plus the cross-field rules a schema cannot express: a
pruned model is never larger than its dense model, and every derived field agrees with the raw ones
it is computed from (an arm's means, standard deviation and divergence from its per-seed runs, its
reductions from its and the dense model's counts). Errors name the file and the failing field.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from bench.errors import BenchError
from bench.infra import files

SCHEMA_VERSION = 1
# `bench verify` writes its result beside the record, named after it; readers of records skip these.
VERIFICATION_SUFFIX = ".verification.json"
VERIFICATION_STATUSES = ("identical", "within spread", "not reproduced")
# A run *collapsed* when it finished (no NaN, so not diverged) having learnt next to nothing: its test
# top-1 is at most COLLAPSE_POINTS above chance (100 / classes), or its last epoch's training loss is
# within COLLAPSE_LOSS of ln(classes), what a uniform guess scores, or above it. Such a run stays in
# every mean (dropping it would flatter its arm) but is flagged wherever the arm is shown.
COLLAPSE_POINTS = 10.0
COLLAPSE_LOSS = 0.05  # relative to ln(classes)


def collapsed(run: dict, classes: int) -> bool:
    """Whether one finished run collapsed (the rule above); a diverged run is marked diverged instead."""
    if run["diverged"] or run["top1"] is None:
        return False
    if run["top1"] <= 100.0 / classes + COLLAPSE_POINTS:
        return True
    curve = run["curve"]
    return bool(curve) and curve[-1]["train_loss"] >= (1 - COLLAPSE_LOSS) * math.log(classes)


def with_health(arm: dict, classes: int) -> dict:
    """The arm with each run's `collapsed` flag and the arm's `collapsed_runs` count."""
    runs = [{**run, "collapsed": collapsed(run, classes)} for run in arm["runs"]]
    return {**arm, "runs": runs, "collapsed_runs": sum(run["collapsed"] for run in runs)}


# A record's file name, and each folder above it in submissions/, in the alphabet `bench evaluate` names
# them with (RunSpec.record_path): anything else is refused before its name reaches a page.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


def name_problem(relative: str) -> str | None:
    """Why a record's path (relative to its submissions folder, `/`-separated) cannot be shown, or None.
    The message never repeats the name: it may be anything."""
    if not all(_NAME.fullmatch(part) for part in relative.split("/")):
        return "(file name): only letters, digits, '.', '_' and '-' (not first), at most 255 per name"
    return None


def verification_path(record_path: str | Path) -> Path:
    """Where `bench verify` writes its result: beside the record, named after it (never outside its folder)."""
    path = Path(record_path)
    return path.with_name(path.name.removesuffix(".json") + VERIFICATION_SUFFIX)


def _schema_text() -> str:
    try:
        from importlib.resources import files

        return files("bench.schemas").joinpath("schema.json").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # running from a source checkout without installing
        return (Path(__file__).resolve().parents[2] / "submissions" / "schema.json").read_text()


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(_schema_text())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema())
    return cls(schema(), format_checker=cls.FORMAT_CHECKER)


def field_path(error_path) -> str:
    """A field's path; a key that is not a plain name (it came from the file) is not repeated."""
    return "/".join(str(p) if isinstance(p, int) or (isinstance(p, str) and _NAME.fullmatch(p)) else "(a key)" for p in error_path) or "(top level)"


# What each JSON Schema rule requires, worded from the schema alone: jsonschema's own messages repeat
# the offending value, which may be megabytes or markup that a page would show.
_RULES = {
    "type": "must be of type {}",
    "maximum": "must be at most {}",
    "minimum": "must be at least {}",
    "exclusiveMaximum": "must be below {}",
    "exclusiveMinimum": "must be above {}",
    "maxLength": "must be at most {} characters",
    "minLength": "must be at least {} characters",
    "maxItems": "must have at most {} items",
    "minItems": "must have at least {} items",
    "pattern": "must match the pattern {}",
    "enum": "must be one of {}",
    "const": "must be {}",
    "format": "must be a valid {}",
    "uniqueItems": "must not repeat an item",
    "additionalProperties": "has a field the schema does not define",
    "maxProperties": "must have at most {} fields",
}


def _rule(error: jsonschema.ValidationError) -> str:
    if error.validator == "required":
        return error.message  # names the missing field, which the schema defines
    wording = _RULES.get(str(error.validator))
    if wording is None:
        return f"fails the schema's {error.validator} rule"
    value = error.validator_value
    return wording.format(json.dumps(value) if isinstance(value, (list, str)) else value)


# The allocation control is matched to the method's FLOPs by a search that lands within 0.5% of the
# dense FLOPs (bench/pruning/cost.py), twice that at most: one rounding step either way.
ALLOCATION_FLOPS = 0.01


def problems(record: Any) -> list[str]:
    """Every problem with a record, each as `field: message`; empty when the record is valid."""
    errors = sorted(_validator().iter_errors(record), key=lambda e: list(map(str, e.path)))
    # best_match picks the most specific sub-error of a oneOf ("101 is greater than the maximum of 100"
    # instead of "is not valid under any of the given schemas").
    errors = [jsonschema.exceptions.best_match([e]) for e in errors]
    found = [f"{field_path(e.absolute_path)}: {_rule(e)}" for e in errors]
    if found:
        return found
    dense = record["dense"]
    for arm_name in ("method", "random_control", "allocation_control"):
        arm = record.get(arm_name)
        if not isinstance(arm, dict):  # absent, or the allocation control's "same_as_random_control"
            continue
        for key in ("params", "flops"):
            if arm[key] > dense[key]:
                found.append(f"{arm_name}/{key}: {arm[key]} is larger than the dense model's {dense[key]}")
        if [r["seed"] for r in arm["runs"]] != record["seeds"]:
            found.append(f"{arm_name}/runs: seeds do not match the record's seeds")
        found += [f"{arm_name}/{field}: {message}" for field, message in _derived_disagreements(arm, dense)]
        found += [f"{arm_name}/{field}: {message}" for field, message in _health_disagreements(arm, record)]
    allocation = record.get("allocation_control")
    if allocation == "same_as_random_control" and record["random_control"] is None:
        found.append("allocation_control: names the random control, which the record does not have")
    if isinstance(allocation, dict) and abs(allocation["flops"] - record["method"]["flops"]) > ALLOCATION_FLOPS * dense["flops"]:
        found.append(f"allocation_control/flops: {allocation['flops']} is not the method's {record['method']['flops']} "
                     f"within {ALLOCATION_FLOPS:.1%} of the dense FLOPs")
    return found


def _health_disagreements(arm: dict, record: dict) -> list[tuple[str, str]]:
    """A stated `collapsed` flag (or count) that the collapse rule, applied to the runs, contradicts."""
    classes = record["dataset"]["num_classes"]
    flags = [collapsed(run, classes) for run in arm["runs"]]
    out = [(f"runs/{i}/collapsed", f"is {run['collapsed']} but the rule says {flag} (top-1 within "
            f"{COLLAPSE_POINTS:g} points of chance or last train loss within {COLLAPSE_LOSS:.0%} of ln {classes})")
           for i, (run, flag) in enumerate(zip(arm["runs"], flags)) if run.get("collapsed", flag) != flag]
    if arm.get("collapsed_runs", sum(flags)) != sum(flags):
        out.append(("collapsed_runs", f"is {arm['collapsed_runs']} but {sum(flags)} of its runs collapsed"))
    return out


def _derived_disagreements(arm: dict, dense: dict) -> list[tuple[str, str]]:
    """(field, why) for every derived field of an arm that its raw fields do not reproduce."""
    out = []
    runs = arm["runs"]
    diverged = any(r["diverged"] for r in runs)
    if arm["diverged"] != diverged:
        out.append(("diverged", f"is {arm['diverged']} but the runs say {diverged}"))
    top1 = [r["top1"] for r in runs]
    top5 = [r["top5"] for r in runs]
    if diverged or None in top1 or None in top5:
        expected = {"top1_mean": None, "top1_std": None, "top5_mean": None} if diverged else {}
    else:
        expected = {
            "top1_mean": statistics.fmean(top1),
            "top1_std": statistics.stdev(top1) if len(top1) > 1 else 0.0,
            "top5_mean": statistics.fmean(top5),
        }
    for field, value in expected.items():
        if not _agrees(arm[field], value, 1e-6):
            out.append((field, f"{arm[field]!r} disagrees with its runs ({value!r})"))
    for field, count in (("params_reduction_pct", "params"), ("flops_reduction_pct", "flops")):
        value = 100.0 * (1 - arm[count] / dense[count]) if dense[count] else 0.0
        if not _agrees(arm[field], value, 1e-3):  # stored rounded to 4 decimals
            out.append((field, f"{arm[field]!r} disagrees with {count} {arm[count]} of {dense[count]} ({value:.4f})"))
    return out


def _agrees(stored: Any, computed: float | None, tolerance: float) -> bool:
    if stored is None or computed is None:
        return stored is None and computed is None
    return abs(stored - computed) <= tolerance


def validate(record: Any, source: str = "record") -> None:
    found = problems(record)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise BenchError(f"{source}: invalid at {found[0]}{more}")


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not allowed in a record")


MAX_RECORD_BYTES = 16 * 2**20  # a reference record is about 100 kB; its curves grow with epochs and seeds


def read_text(path: Path) -> str:
    """A record file's text: a regular file of at most MAX_RECORD_BYTES (never /dev/zero, never a FIFO)."""
    try:
        if not path.is_file():
            raise BenchError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise BenchError(f"{path}: larger than a record can be ({MAX_RECORD_BYTES // 2**20} MB)")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: cannot read ({exc.__class__.__name__})") from None


def parse(text: str, parse_constant=None) -> Any:
    """JSON text → value; nesting deeper than Python's recursion (100,000 brackets) is an error, not a crash."""
    try:
        return json.loads(text, parse_constant=parse_constant or _reject_constant)
    except RecursionError:
        raise ValueError("nested deeper than any record") from None


def read(path: str | Path) -> dict:
    """Load and validate one record file."""
    path = Path(path)
    text = read_text(path)
    try:
        record = parse(text)
    except ValueError as exc:
        raise BenchError(f"{path}: not valid JSON ({exc})") from None
    validate(record, str(path))
    return record


def write(record: dict, path: str | Path) -> Path:
    """Validate, then write atomically; an invalid record is never written."""
    validate(record, "record to write")
    return files.write_atomic(path, json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n")
