"""`bench verify RECORD`: re-run a record's seeds from its own specification and say, per seed, whether
the numbers were reproduced.

Everything is recomputed in a fresh, temporary runs folder (no cache is consulted): the dense
baseline (or the user's weights, accepted only when their digest is the record's dense-weights
digest), the pruning and both arms' retraining. Per seed, both arms' (top-1, top-5, best epoch):

- identical: bitwise equal. Required when the environment is the record's (device, thread count,
  torch version, and the CPU kernels' instruction set: AVX2 and AVX512 kernels round differently on
  the same CPU model): anything else there is "not reproduced";
- within spread: in another environment (other kernels round differently, and on another CPU model
  the dense baseline itself differs), the rerun top-1 of each arm differs from the recorded one by no
  more than two independent runs of that arm would 95% of the time: t(0.975, n-1) · √2 · s, with s the
  arm's seed standard deviation over its n seeds (at least one test image);
- not reproduced: otherwise.

The result goes to a small file beside the record, `<record>.verification.json` (what was rerun,
where, and the outcome), which the leaderboard reads to mark verified entries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import tempfile
from pathlib import Path

import torch
from scipy import stats

from bench.core import records, shipped
from bench.core.checkpoint import weights_digest
from bench.errors import BenchError
from bench.evaluation.dense import DEFAULT_RUNS_DIR
from bench.evaluation.evaluate import Execution, evaluate
from bench.evaluation.spec import RunSpec
from bench.infra import files
from bench.infra.progress import Reporter, SilentReporter

IDENTICAL, WITHIN, NOT_REPRODUCED = records.VERIFICATION_STATUSES
# Where these agree, the numbers must be bitwise equal (a GPU run states no CPU kernels; a CPU record
# from before they were stated is from another environment as far as anyone can tell).
ENVIRONMENT_KEYS = ("device", "cpu_kernels", "threads", "torch")


def verify(
    record_path: str | Path,
    seeds: tuple[int, ...] | None = None,
    checkpoint: str | None = None,
    device: str = "auto",
    reporter: Reporter | None = None,
    runs_dir: str | Path = DEFAULT_RUNS_DIR,
) -> dict:
    """Re-run `seeds` (default: all) of the record and write its verification file; returns its content.
    The scratch folder lives in `runs_dir` (the tool writes nowhere else but beside the record) and is
    removed afterwards."""
    reporter = reporter or SilentReporter()
    path = Path(record_path)
    record = records.read(path)
    if "spec" not in record:
        raise BenchError(f"{path}: the record has no run specification (written before records carried one); it cannot be re-run")
    spec = RunSpec.from_dict(record["spec"], check_checkpoint=False)
    if spec.hash != record["run_id"]:
        raise BenchError(f"{path}: run_id {record['run_id']} is not the hash of the record's own specification ({spec.hash})")
    chosen = tuple(record["seeds"]) if seeds is None else tuple(seeds)
    unknown = sorted(set(chosen) - set(record["seeds"]))
    if unknown:
        raise BenchError(f"{path}: seeds {unknown} are not in the record (its seeds: {record['seeds']})")
    rerun = dataclasses.replace(spec, seeds=chosen, **_dense_source(spec, record, checkpoint))

    with tempfile.TemporaryDirectory(prefix="verify-", dir=files.ensure_dir(runs_dir)) as scratch:
        execution = Execution(runs_dir=f"{scratch}/runs", records_dir=f"{scratch}/records", device=device)
        again, _ = evaluate(rerun, execution, reporter)
    here = again["environment"]  # where the rerun ran, with the spec's threads set
    same_environment = same_place(record["environment"], here)
    results = [_compare(record, again, seed, same_environment) for seed in chosen]
    dense_same = again["dense"]["weights_sha256"] == record["dense"]["weights_sha256"]
    statuses = {r["status"] for r in results}
    if not dense_same and same_environment:
        statuses.add(NOT_REPRODUCED)  # the same machine must give the same dense weights
    overall = NOT_REPRODUCED if NOT_REPRODUCED in statuses else WITHIN if WITHIN in statuses else IDENTICAL
    verification = {
        "record": path.name,
        "run_id": record["run_id"],
        "verified": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "environment": here,
        "same_environment": same_environment,
        "dense": "from the user's weights" if checkpoint else ("identical weights" if dense_same else "different weights"),
        "seeds": list(chosen),
        "results": results,
        "status": overall,
    }
    files.write_atomic(records.verification_path(path), json.dumps(verification, indent=2, sort_keys=True) + "\n")
    return verification


def _dense_source(spec: RunSpec, record: dict, checkpoint: str | None) -> dict:
    """The spec's dense source for the rerun: retrained as specified, or the user's weights when they
    are the record's (by digest). A record made from a checkpoint needs those weights at hand (a shipped one is found by itself)."""
    if checkpoint is None and (copy := shipped.by_sha256(spec.checkpoint_sha256)) is not None:
        checkpoint = str(copy.path)  # a shipped checkpoint: every checkout has it
    if checkpoint is None:
        if spec.checkpoint_sha256 is not None:
            raise BenchError("the record started from a user's checkpoint: pass it with --checkpoint to verify")
        return {}
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BenchError(f"checkpoint {checkpoint} does not exist") from None
    except Exception as exc:  # torch raises many types for corrupt or non-weights files
        raise BenchError(f"cannot read checkpoint {checkpoint}: {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict) or weights_digest(state) != record["dense"]["weights_sha256"]:
        raise BenchError(f"{checkpoint} does not hold the record's dense weights (their SHA-256 differs)")
    return {"checkpoint": str(checkpoint), "checkpoint_sha256": None}


def same_place(recorded: dict, here: dict) -> bool:
    """Whether a rerun ran where the record was made, as far as the numbers can tell."""
    return all(recorded.get(k) == here.get(k) for k in ENVIRONMENT_KEYS)


def _compare(record: dict, again: dict, seed: int, same_environment: bool) -> dict:
    out = {"seed": seed}
    statuses = []
    for arm in ("method", "random_control"):
        if record[arm] is None:
            continue
        before = next(r for r in record[arm]["runs"] if r["seed"] == seed)
        after = next(r for r in again[arm]["runs"] if r["seed"] == seed)
        keys = ("top1", "top5", "best_epoch")
        if all(before[k] == after[k] for k in keys):
            status = IDENTICAL
        elif same_environment or before["top1"] is None or after["top1"] is None:
            status = NOT_REPRODUCED
        else:
            status = WITHIN if abs(after["top1"] - before["top1"]) <= spread(record, arm) else NOT_REPRODUCED
        out[arm] = {"recorded": before["top1"], "rerun": after["top1"], "status": status}
        statuses.append(status)
    out["status"] = NOT_REPRODUCED if NOT_REPRODUCED in statuses else WITHIN if WITHIN in statuses else IDENTICAL
    return out


def spread(record: dict, arm: str) -> float:
    """How far (top-1 points) one rerun of a seed may land from the recorded run of it elsewhere: the
    95% band of the difference of two independent runs of the arm, t(0.975, n-1) · √2 · s (its seeds'
    standard deviation s over n finished seeds), and at least one test image."""
    finished = [r["top1"] for r in record[arm]["runs"] if r["top1"] is not None]
    one_image = 100.0 / record["dataset"]["sizes"]["test"]
    if len(finished) < 2:
        return one_image
    band = stats.t.ppf(0.975, len(finished) - 1) * math.sqrt(2) * (record[arm]["top1_std"] or 0.0)
    return max(band, one_image)
