"""Fair groups: entries are ranked only against entries with the same dataset, model, dense recipe
and retraining protocol. One entry is one record's method arm, compared with that record's own
random control and dense model.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from bench.config import canonical_json
from bench.leaderboard.load import Submission

# Every protocol field that changes what "retraining" means; two protocols agreeing on all of them
# give comparable numbers.
PROTOCOL_FIELDS = (
    "name", "version", "schedule", "epochs", "lr_max", "lr_min", "warmup_fraction",
    "batch_size", "weight_decay", "momentum", "nesterov", "reinitialize",
)
ADAPTER_MODULE = re.compile(r"^bench\.adapters\.([A-Za-z_][A-Za-z0-9_]*)$")

# Why an entry sits where it does; shown in the table and used to split the ranking.
CONTROL = "control"  # the entry *is* random pruning
NO_CONTROL = "no control"
CONTROL_DIVERGED = "control diverged"
BEATEN = "beaten by random"


def flops_budget(protocol: dict) -> bool:
    """Scratch-B: epochs are sized to a FLOPs budget, so they differ per entry by design."""
    return protocol["schedule"] == "scratch" and protocol.get("flops_ratio") is not None


def protocol_key(protocol: dict) -> dict[str, Any]:
    key = {f: protocol[f] for f in PROTOCOL_FIELDS}
    if flops_budget(protocol):
        key["epochs"] = "flops budget"
    if protocol.get("iterations", 1) > 1:  # K prune-retrain rounds: never ranked with one-shot entries
        key["iterations"] = protocol["iterations"]
    return key


def group_key(record: dict) -> dict[str, Any]:
    dataset = record["dataset"]
    key = {
        "dataset": {k: dataset[k] for k in ("name", "split_seed", "input_shape")},
        "model": record["model"],
        "recipe": record["dense"]["recipe"],
        "protocol": protocol_key(record["protocol"]),
    }
    if "weights_sha256" in record["dense"]:  # entries pruned from different dense weights are never ranked together
        key["dense_weights"] = record["dense"]["weights_sha256"]
    return key


def key_hash(key: Any, length: int = 10) -> str:
    return hashlib.sha256(canonical_json(key).encode()).hexdigest()[:length]


def slug(key: dict[str, Any]) -> str:
    """Filesystem-safe and stable; the hash keeps groups that differ only in hidden fields apart."""
    rounds = f"-x{key['protocol']['iterations']}" if "iterations" in key["protocol"] else ""
    readable = f"{key['dataset']['name']}-{key['model']}-{key['protocol']['name']}{rounds}"
    readable = re.sub(r"[^a-z0-9]+", "-", readable.lower()).strip("-")[:60].strip("-")
    return f"{readable}-{key_hash(key)}"


def args_text(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(args[k])}" for k in sorted(args))


@dataclass(frozen=True)
class Entry:
    file: str
    run_id: str
    adapter: str
    args: dict[str, Any]
    module: str | None
    paper: str | None
    target: str
    epochs: int
    seeds: int
    params: int
    flops: int
    params_reduction_pct: float
    flops_reduction_pct: float
    top1_mean: float | None
    top1_std: float | None
    diverged: bool
    dense_run_id: str
    dense_top1: float
    dense_params: int
    dense_flops: int
    control_top1_mean: float | None
    control_top1_std: float | None
    control_flops: int | None
    status: str  # "", CONTROL, NO_CONTROL, CONTROL_DIVERGED or BEATEN
    speedup: dict[str, float] | None = None  # measured vs FLOPs speedup, in records that carry latency
    rank: int | None = None

    @property
    def source_path(self) -> str | None:
        """Repository path of a built-in adapter's source, e.g. adapters/l1_norm.py."""
        match = ADAPTER_MODULE.match(self.module or "")
        return f"adapters/{match.group(1)}.py" if match else None

    @property
    def delta_dense(self) -> float | None:
        return None if self.top1_mean is None else self.top1_mean - self.dense_top1

    @property
    def delta_random(self) -> float | None:
        if self.top1_mean is None or self.control_top1_mean is None or self.status == CONTROL:
            return None
        return self.top1_mean - self.control_top1_mean

    @property
    def has_control(self) -> bool:
        return self.status in ("", BEATEN)


def _arm_ok(arm: dict | None) -> bool:
    return arm is not None and not arm["diverged"] and arm["top1_mean"] is not None


def entry(sub: Submission) -> Entry:
    r = sub.record
    method, control, dense = r["method"], r["random_control"], r["dense"]
    control_mean = control["top1_mean"] if _arm_ok(control) else None
    if r["adapter"]["name"] == "random":
        status = CONTROL
    elif control is None:
        status = NO_CONTROL
    elif control_mean is None:
        status = CONTROL_DIVERGED
    elif _arm_ok(method) and method["top1_mean"] < control_mean:
        status = BEATEN
    else:
        status = ""
    return Entry(
        file=sub.file, run_id=r["run_id"], adapter=r["adapter"]["name"], args=r["adapter"]["args"],
        module=r["adapter"].get("module"), paper=r["adapter"].get("paper"), target=r["target"]["description"],
        epochs=r["protocol"]["epochs"], seeds=len(method["runs"]),
        params=method["params"], flops=method["flops"],
        params_reduction_pct=method["params_reduction_pct"], flops_reduction_pct=method["flops_reduction_pct"],
        top1_mean=method["top1_mean"] if _arm_ok(method) else None,
        top1_std=method["top1_std"] if _arm_ok(method) else None,
        diverged=not _arm_ok(method),
        dense_run_id=dense["run_id"], dense_top1=dense["test_top1"],
        dense_params=dense["params"], dense_flops=dense["flops"],
        control_top1_mean=control_mean, control_top1_std=control["top1_std"] if _arm_ok(control) else None,
        control_flops=control["flops"] if control is not None else None,
        status=status,
        speedup=method.get("latency", {}).get("speedup"),
    )


def _order(e: Entry) -> tuple:
    return (-(e.top1_mean or 0.0), e.adapter, e.run_id)


def rank(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(ranked, diverged). Entries with their own control first, then the rest; best top-1 first."""
    live = [e for e in entries if not e.diverged]
    ordered = sorted((e for e in live if e.has_control), key=_order) + sorted(
        (e for e in live if not e.has_control), key=_order
    )
    ranked = [replace(e, rank=i) for i, e in enumerate(ordered, 1)]
    diverged = sorted((e for e in entries if e.diverged), key=lambda e: (e.adapter, e.run_id))
    return ranked, diverged


@dataclass(frozen=True)
class Dense:
    run_id: str
    top1: float
    params: int
    flops: int


@dataclass(frozen=True)
class Group:
    key: dict[str, Any]
    slug: str
    ranked: list[Entry]
    diverged: list[Entry]
    dense: list[Dense] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return self.key["dataset"]["name"]

    @property
    def model(self) -> str:
        return self.key["model"]

    @property
    def protocol(self) -> dict[str, Any]:
        return self.key["protocol"]

    @property
    def flops_budget(self) -> bool:
        return self.protocol["epochs"] == "flops budget"

    @property
    def has_speedup(self) -> bool:
        return any(e.speedup is not None for e in self.ranked)

    @property
    def title(self) -> str:
        rounds = f" × {self.protocol['iterations']} iterations" if "iterations" in self.protocol else ""
        return f"{self.dataset} · {self.model} · {self.protocol['name']}{rounds} (v{self.protocol['version']})"

    @property
    def entries(self) -> list[Entry]:
        return self.ranked + self.diverged


def build_groups(submissions: list[Submission]) -> list[Group]:
    by_key: dict[str, tuple[dict, list[Entry]]] = {}
    for sub in submissions:
        key = group_key(sub.record)
        by_key.setdefault(canonical_json(key), (key, []))[1].append(entry(sub))
    groups = []
    for key, entries in by_key.values():
        ranked, diverged = rank(entries)
        dense = sorted({Dense(e.dense_run_id, e.dense_top1, e.dense_params, e.dense_flops) for e in entries},
                       key=lambda d: (d.run_id, d.top1))
        groups.append(Group(key, slug(key), ranked, diverged, dense))
    return sorted(groups, key=_group_order)


def _group_order(g: Group) -> tuple:
    return (g.dataset, g.key["dataset"]["split_seed"], g.model, g.protocol["name"], g.protocol["version"], g.slug)
