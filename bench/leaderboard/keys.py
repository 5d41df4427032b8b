"""What makes two entries comparable: the keys of a dense baseline, a protocol and a family (one
protocol's groups at every level), and the stable, filesystem-safe names (slugs) made from them."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from bench.core.config import canonical_json

# Every protocol field that changes what "retraining" means; two protocols agreeing on all of them
# give comparable numbers.
PROTOCOL_FIELDS = (
    "name", "version", "schedule", "epochs", "lr_max", "lr_min", "warmup_fraction",
    "batch_size", "weight_decay", "momentum", "nesterov", "reinitialize",
)
# Fields that only name or shape the schedule: protocols differing in nothing else retrain for the
# same budget with the same optimiser, so the paper's views compare them.
SCHEDULE_FIELDS = ("name", "version", "schedule", "warmup_fraction")
RETRAINING = ("ft", "lrw", "slr", "clr")  # schedules that retrain the pruned weights (not scratch)


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


def retraining_key(protocol: dict[str, Any], budget: bool = True) -> dict[str, Any]:
    """A protocol key without its schedule (and without its epochs when `budget` is False)."""
    drop = SCHEDULE_FIELDS if budget else (*SCHEDULE_FIELDS, "epochs")
    return {k: v for k, v in protocol.items() if k not in drop}


def baseline_key(record: dict) -> dict[str, Any]:
    """One dense baseline: entries pruned from different dense weights are never ranked together."""
    dataset, dense = record["dataset"], record["dense"]
    key = {
        "dataset": {k: dataset[k] for k in ("name", "split_seed", "input_shape")},
        "model": record["model"],
        "recipe": dense["recipe"],
    }
    if "weights_sha256" in dense:
        key["dense_weights"] = dense["weights_sha256"]
    else:  # older records: the dense run stands for its weights
        key["dense_run"] = dense["run_id"]
    return key


def family_key(record: dict) -> dict[str, Any]:
    return {**baseline_key(record), "protocol": protocol_key(record["protocol"])}


def key_hash(key: Any, length: int = 10) -> str:
    return hashlib.sha256(canonical_json(key).encode()).hexdigest()[:length]


def family_name(key: dict[str, Any]) -> str:
    rounds = f"-x{key['protocol']['iterations']}" if "iterations" in key["protocol"] else ""
    return f"{key['dataset']['name']}-{key['model']}-{key['protocol']['name']}{rounds}"


def slug(key: dict[str, Any], readable: str | None = None) -> str:
    """Filesystem-safe and stable: `readable` (by default dataset-model-protocol of a group key), then a
    hash of the key that keeps keys differing only in hidden fields apart."""
    readable = family_name(key) if readable is None else readable
    readable = re.sub(r"[^a-z0-9]+", "-", readable.lower()).strip("-")[:60].strip("-")
    return f"{readable}-{key_hash(key)}"


def args_text(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(args[k])}" for k in sorted(args))
