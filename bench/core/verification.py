"""Whether a rerun of a record reproduced it: the judgement `bench verify` writes and the leaderboard
recomputes. Torch-free: the leaderboard never trusts a verification file's own verdict, it judges the
rerun's numbers stored in the file against the record as it is now (an edited record loses its mark).

Per seed and arm, every per-seed number the record holds (top-1, top-5, best epoch, best validation
top-1, the divergence and collapse flags, every epoch of the curve) and the arm's network (structure,
params, FLOPs) are compared:

- identical: all bitwise equal;
- not reproduced: anything differs where the rerun is known to have run in the record's environment,
  or the network differs from the same dense weights (the structure follows from the weights alone);
- within spread: elsewhere, the rerun top-1 differs from the recorded one by no more than two
  independent runs of the arm would 95% of the time: t(0.975, df) · √2 · s, with s the standard
  deviation of the arm's seeds pooled over the record's and the rerun's seeds (df their pooled
  degrees of freedom), and at least one test image;
- not reproduced: otherwise.

"The record's environment" is decided from facts a record cannot choose: the rerun retrained the
dense baseline from the record's spec and got bitwise the record's dense weights (a dense training run
is long enough that other kernels, another CPU model or instruction set, change its last bits). A rerun
from given weights (a shipped or user checkpoint) cannot tell, and is held to the spread. The record's
own `environment` fields are free text and play no part.
"""

from __future__ import annotations

import math
import statistics

from scipy import stats

from bench.core.records import VERIFICATION_STATUSES

IDENTICAL, WITHIN, NOT_REPRODUCED = VERIFICATION_STATUSES
ARMS = ("method", "random_control", "allocation_control")
RUN_NUMBERS = ("top1", "top5", "best_epoch", "best_val_top1", "diverged", "collapsed", "curve")
NETWORK = ("structure", "params", "flops")
RETRAINED = "retrained from the spec"
# What the ✓ on the leaderboard means, as its pages say it.
MEANING = (
    "✓ beside a record marks a re-run by `bench verify`: its seeds retrained from the record's own spec in a "
    "scratch folder, the re-run's numbers committed beside the record. The pages judge those numbers against "
    "the record as it now stands (the file's own verdict is not read): identical (bitwise), within spread "
    "(elsewhere: within the 95% band of two runs of the arm, seeds pooled) or not reproduced. The note says "
    "which seeds were re-run, by whom (as the file names them) and on what. CI re-runs one seed of every "
    "record a change adds or modifies; a file only shows that someone ran it."
)  # the verification's dense source when the rerun trained it


def rerun_arm(arm: dict) -> dict:
    """What a judgement reads of a rerun's arm: its network and every per-seed number (timings dropped)."""
    runs = [{k: run[k] for k in ("seed", *RUN_NUMBERS) if k in run} for run in arm["runs"]]
    return {**{k: arm[k] for k in NETWORK}, "runs": runs}


def _same_weights(record: dict, verification: dict) -> bool:
    return (verification.get("dense") or {}).get("weights_sha256") == record["dense"].get("weights_sha256")


def same_environment(record: dict, verification: dict) -> bool | None:
    """True: the rerun retrained the dense weights bitwise; False: it retrained other ones; None: the
    rerun started from given weights, which says nothing about where it ran."""
    if (verification.get("dense") or {}).get("source") != RETRAINED:
        return None
    return _same_weights(record, verification)


def judge(record: dict, verification: dict) -> dict:
    """{"same_environment", "results": per seed, "status"} of a verification's rerun against a record."""
    rerun = verification["rerun"]
    same = same_environment(record, verification)
    same_weights = _same_weights(record, verification)
    results = [_seed(record, rerun, seed, same, same_weights) for seed in verification["seeds"]]
    return {"same_environment": same, "results": results, "status": worst(r["status"] for r in results)}


def worst(statuses) -> str:
    found = set(statuses)
    return NOT_REPRODUCED if NOT_REPRODUCED in found or not found else WITHIN if WITHIN in found else IDENTICAL


def _arms(record: dict) -> list[str]:
    """The arms a rerun reproduces: those the record trained (an allocation control that is the random
    control's network is a string, trained once as that arm)."""
    return [a for a in ARMS if isinstance(record.get(a), dict)]


def _seed(record: dict, rerun: dict, seed: int, same: bool | None, same_weights: bool) -> dict:
    out: dict = {"seed": seed}
    for arm in _arms(record):
        before = _run(record[arm], seed)
        after = _run(rerun.get(arm), seed)
        if before is None or after is None:
            out[arm] = {"recorded": before and before["top1"], "rerun": after and after["top1"], "status": NOT_REPRODUCED,
                        "differs": ["the seed's run is missing"]}
            continue
        differs = [k for k in NETWORK if record[arm].get(k) != rerun[arm].get(k)]
        differs += [k for k in RUN_NUMBERS if before.get(k) != after.get(k)]
        if not differs:
            status = IDENTICAL
        elif same or (same_weights and any(k in NETWORK for k in differs)) or before["top1"] is None or after["top1"] is None:
            status = NOT_REPRODUCED
        else:
            band = tolerance(record[arm], rerun[arm], record["dataset"]["sizes"]["test"])
            status = WITHIN if abs(after["top1"] - before["top1"]) <= band else NOT_REPRODUCED
        out[arm] = {"recorded": before["top1"], "rerun": after["top1"], "status": status, "differs": differs}
    out["status"] = worst(out[a]["status"] for a in _arms(record))
    return out


def _run(arm: dict | None, seed: int) -> dict | None:
    if not isinstance(arm, dict):
        return None
    return next((r for r in arm.get("runs", []) if isinstance(r, dict) and r.get("seed") == seed), None)


def tolerance(recorded: dict, rerun: dict | None, test_images: int) -> float:
    """How far (top-1 points) a rerun seed may land from its recorded run elsewhere: the 95% band of
    the difference of two independent runs of the arm, t(0.975, df) · √2 · s_pooled, at least one image.
    s is computed from the runs themselves (never from a stored standard deviation)."""
    groups = [_finished(recorded)] + ([_finished(rerun)] if rerun else [])
    df = sum(len(g) - 1 for g in groups if len(g) > 1)
    one_image = 100.0 / test_images
    if df < 1:
        return one_image
    pooled = math.sqrt(sum((len(g) - 1) * statistics.variance(g) for g in groups if len(g) > 1) / df)
    return max(stats.t.ppf(0.975, df) * math.sqrt(2) * pooled, one_image)


def _finished(arm: dict) -> list[float]:
    return [r["top1"] for r in arm.get("runs", []) if isinstance(r, dict) and isinstance(r.get("top1"), (int, float))]
