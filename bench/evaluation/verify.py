"""`bench verify RECORD`: re-run a record's seeds from its own specification and say, per seed, whether
the numbers were reproduced.

Everything is recomputed in a fresh, temporary runs folder (no cache is consulted): the dense
baseline (or the user's weights, accepted only when their digest is the record's dense-weights
digest), the pruning and every arm's retraining. The rerun's own networks and per-seed runs are
judged against the record by bench/core/verification.py (identical, within spread, not reproduced)
and stored, with where the rerun ran and who ran it, in a small file beside the record,
`<record>.verification.json`. The leaderboard judges those numbers again against the record as it
is then, so the file's own verdict counts for nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
from pathlib import Path

import torch

from bench.core import records, shipped, verification
from bench.core.checkpoint import weights_digest
from bench.errors import BenchError
from bench.evaluation.dense import DEFAULT_RUNS_DIR
from bench.evaluation.evaluate import Execution, evaluate
from bench.evaluation.preflight import Preflight
from bench.evaluation.spec import RunSpec
from bench.evaluation.spec_fields import record_spec
from bench.infra import files
from bench.infra.progress import Reporter, SilentReporter

MAX_VERIFIER_LENGTH = 100


def verify(
    record_path: str | Path,
    seeds: tuple[int, ...] | None = None,
    checkpoint: str | None = None,
    device: str = "auto",
    reporter: Reporter | None = None,
    runs_dir: str | Path = DEFAULT_RUNS_DIR,
    verifier: str = "not stated",
) -> dict:
    """Re-run `seeds` (default: all) of the record and write its verification file; returns its content.
    The scratch folder lives in `runs_dir` (the tool writes nowhere else but beside the record) and is
    removed afterwards. `verifier`: who ran it, as the leaderboard shows it."""
    reporter = reporter or SilentReporter()
    path = Path(record_path)
    record = records.read(path)
    if "spec" not in record:
        raise BenchError(f"{path}: the record has no run specification (written before records carried one); it cannot be re-run")
    if not (isinstance(verifier, str) and 0 < len(verifier) <= MAX_VERIFIER_LENGTH and verifier.isprintable()):
        raise BenchError(f"--by: a name of 1 to {MAX_VERIFIER_LENGTH} printable characters")
    try:
        spec = record_spec(record)
    except BenchError as exc:
        raise BenchError(f"{path}: {exc}") from None
    if spec.hash != record["run_id"]:
        raise BenchError(f"{path}: run_id is not the hash of the record's own specification")
    chosen = tuple(record["seeds"]) if seeds is None else tuple(seeds)
    unknown = sorted(set(chosen) - set(record["seeds"]))
    if unknown:
        raise BenchError(f"{path}: --seeds names seeds the record does not have (its seeds: {record['seeds']})")
    source, dense_source = _dense_source(spec, record, checkpoint)
    rerun = dataclasses.replace(spec, seeds=chosen, **source)
    Preflight().check(rerun)  # before the scratch folder and any training: the checks evaluate runs

    with tempfile.TemporaryDirectory(prefix="verify-", dir=files.ensure_dir(runs_dir)) as scratch:
        execution = Execution(runs_dir=f"{scratch}/runs", records_dir=f"{scratch}/records", device=device)
        again, _ = evaluate(rerun, execution, reporter)
    result = {
        "record": path.name,
        "run_id": record["run_id"],
        "verified": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "verifier": verifier,
        "environment": again["environment"],  # where the rerun ran, with the spec's threads set
        "dense": {"source": dense_source, "weights_sha256": again["dense"]["weights_sha256"]},
        "seeds": list(chosen),
        "rerun": {arm: verification.rerun_arm(again[arm]) for arm in verification.ARMS if isinstance(again.get(arm), dict)},
    }
    result.update(verification.judge(record, result))  # what the leaderboard recomputes from "rerun"
    files.write_atomic(records.verification_path(path), json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result


def _dense_source(spec: RunSpec, record: dict, checkpoint: str | None) -> tuple[dict, str]:
    """The spec's dense source for the rerun, and how the verification names it: retrained as specified
    (`verification.RETRAINED`: the only source that says where the rerun ran), or given weights when they
    are the record's (by digest). A record made from a checkpoint needs those weights at hand (a shipped
    one is found by itself)."""
    named = "the user's weights" if checkpoint is not None else "the shipped checkpoint"
    if checkpoint is None and (copy := shipped.by_sha256(spec.checkpoint_sha256)) is not None:
        checkpoint = str(copy.path)  # a shipped checkpoint: every checkout has it
    if checkpoint is None:
        if spec.checkpoint_sha256 is not None:
            raise BenchError("the record started from a user's checkpoint: pass it with --checkpoint to verify")
        return {}, verification.RETRAINED
    if not Path(checkpoint).is_file():
        raise BenchError(f"--checkpoint: not a regular file ({'it does not exist' if not Path(checkpoint).exists() else 'a device, folder or pipe'})")
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or non-weights files
        raise BenchError(f"cannot read checkpoint {checkpoint}: {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict) or weights_digest(state) != record["dense"]["weights_sha256"]:
        raise BenchError(f"{checkpoint} does not hold the record's dense weights (their SHA-256 differs)")
    return {"checkpoint": str(checkpoint), "checkpoint_sha256": None}, named
