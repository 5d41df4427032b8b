"""The record of one evaluation, assembled from its specification, dense baseline and arms."""

from __future__ import annotations

import datetime as dt

import bench
from bench.core import records
from bench.core.config import to_jsonable
from bench.core.counting import FLOP_CONVENTION
from bench.core.latency import Latency
from bench.core.protocols import ResolvedProtocol
from bench.data import DataBundle
from bench.evaluation.arms import Arm
from bench.evaluation.dense import Dense
from bench.evaluation.spec import RunSpec
from bench.pruning.cost import CostMatch
from bench.pruning.layouts import Layout


def distribution(module: str) -> dict[str, str]:
    """The installed package (and version) providing `module`, for the record's `adapter`: a plugin's
    result is only reproducible with its code. Best effort: any failure omits the fields (this runs at
    the end of every sweep job, and a record without them is still valid)."""
    try:
        from importlib.metadata import packages_distributions, version

        top = module.split(".")[0]
        if top == "bench":  # built-ins: also right in a checkout that is not installed
            found = {"package": "prunebench", "package_version": bench.__version__}
        else:
            name = packages_distributions()[top][0]
            found = {"package": name, "package_version": version(name)}
        if all(isinstance(v, str) and 0 < len(v) <= limit for v, limit in zip(found.values(), (100, 64))):
            return found  # within the schema's maxLength; otherwise omitted rather than invalid
    except Exception:  # noqa: BLE001 (metadata of any shape, or none)
        pass
    return {}


def build_record(
    spec: RunSpec,
    data: DataBundle,
    dense: Dense,
    protocol: ResolvedProtocol,
    arms: list[Arm],
    seconds: float,
    env: dict,
    dense_latency: Latency | None = None,
    layout: Layout | None = None,
    *,
    match: CostMatch | None = None,
    allocation: Arm | str | None = None,
) -> dict:
    """`match`: what a --speedup search found; `allocation`: the allocation control's arm, or a string
    saying which arm's network it is (a layerwise method's uniform widths are its random control's)."""
    adapter = arms[0].adapter
    protocol_dict = {k: v for k, v in protocol.to_dict().items() if v is not None}
    if spec.iterations > 1:
        protocol_dict["iterations"] = spec.iterations
    return {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": spec.hash,
        "spec": spec.to_dict(),
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "prunebench_version": bench.__version__,
        "adapter": {
            "name": adapter.name,
            "version": adapter.version,
            "kind": adapter.kind,
            "allocation": adapter.allocation,
            "paper": adapter.paper,
            "module": type(adapter).__module__,
            **distribution(type(adapter).__module__),
            "args": to_jsonable(adapter.hparams),
        },
        "target": {"description": spec.target.describe(), **spec.target.to_dict(), **({"match": match.to_dict()} if match else {})},
        **({"layout": layout.to_dict()} if layout is not None and spec.prunes_in_a_layout else {}),
        "model": spec.model,
        "dataset": {
            "name": data.spec.name,
            "split_seed": data.split_seed,
            "sizes": dict(data.sizes),
            "input_shape": list(data.spec.input_shape),
            "num_classes": data.spec.num_classes,
        },
        "protocol": protocol_dict,
        "seeds": list(spec.seeds),
        "dense": {
            "run_id": dense.run_id,
            "weights_sha256": dense.weights_sha256,
            "source": dense.source,
            "seed": dense.seed,
            "recipe": to_jsonable(data.spec.recipe),
            "val_top1": dense.val_top1,
            "test_top1": dense.test_top1,
            "test_top5": dense.test_top5,
            **dense.counts.to_dict(),
            **({"latency": dense_latency.to_dict()} if dense_latency is not None else {}),
            **({"regularizer": dense.regularizer} if dense.regularizer else {}),
        },
        "counting": {"tool": "fvcore", "convention": FLOP_CONVENTION, "input_shape": [1, *data.spec.input_shape]},
        # Each run states its health: a collapsed run (near chance, no NaN) is flagged, never dropped.
        "method": records.with_health(arms[0].summary(dense.counts, dense_latency), data.spec.num_classes),
        "random_control": (records.with_health(arms[1].summary(dense.counts, dense_latency), data.spec.num_classes)
                           if len(arms) > 1 else None),
        **({"allocation_control": _allocation(allocation, dense, data)} if allocation is not None else {}),
        "wall_time_seconds": round(seconds, 2),
        "environment": env,
    }


def _allocation(allocation: Arm | str, dense: Dense, data: DataBundle) -> dict | str:
    if isinstance(allocation, str):
        return allocation
    return records.with_health(allocation.summary(dense.counts), data.spec.num_classes)
