"""Judging a rerun against its record: what `bench verify` writes and the leaderboard recomputes."""

from __future__ import annotations

import copy
import statistics

import pytest

from bench.core.verification import IDENTICAL, NOT_REPRODUCED, RETRAINED, WITHIN, judge, same_environment, tolerance

# fpgm ratio 0.7 clr-40 (a committed record): s = 0.576 over 5 seeds → t(0.975, 4) · √2 · 0.576 = 2.26
TOP1S = [97.77777777777777, 98.88888888888889, 98.33333333333333, 99.16666666666667, 98.05555555555556]
WEIGHTS = "a" * 64


def _run(seed: int, top1: float | None) -> dict:
    return {"seed": seed, "top1": top1, "top5": 100.0, "best_epoch": 3, "best_val_top1": 99.0, "diverged": top1 is None,
            "collapsed": False, "curve": [{"epoch": 0, "lr": 0.1, "train_loss": 0.5, "val_top1": 99.0}]}


def _arm(top1s: list[float | None], flops: int = 1000) -> dict:
    done = [t for t in top1s if t is not None]
    return {"structure": {"kind": "structured", "keep": {"a": 3}}, "params": 10, "flops": flops,
            "runs": [_run(i, t) for i, t in enumerate(top1s)],
            "top1_std": statistics.stdev(done) if len(done) > 1 else 0.0}


def _record(top1s=TOP1S) -> dict:
    return {"method": _arm(top1s), "random_control": None, "dataset": {"sizes": {"test": 360}},
            "dense": {"weights_sha256": WEIGHTS}}


def _verification(record: dict, top1: float | None, *, source: str = "the shipped checkpoint", weights: str = WEIGHTS,
                  seed: int = 0, **network) -> dict:
    """A rerun of one seed: the record's own run with top-1 replaced (and the network's fields)."""
    arm = copy.deepcopy(record["method"])
    arm.update(network)
    arm["runs"] = [{**arm["runs"][seed], "top1": top1}]
    return {"dense": {"source": source, "weights_sha256": weights}, "seeds": [seed], "rerun": {"method": arm}}


def test_within_spread_is_the_95_percent_band_of_two_runs_of_the_arm_seeds_pooled():
    record = _record()
    assert tolerance(record["method"], None, 360) == pytest.approx(2.2613, abs=1e-3)
    one_seed = _verification(record, 99.17)["rerun"]["method"]
    assert tolerance(record["method"], one_seed, 360) == pytest.approx(2.2613, abs=1e-3)  # one seed adds no spread
    # five rerun seeds that agree pool in: s² = (4 · 0.332 + 4 · 0.007) / 8, t(0.975, 8) · √2 · 0.412 = 1.34
    steady = _arm([98.0, 98.1, 98.2, 98.1, 98.0])
    assert tolerance(record["method"], steady, 360) == pytest.approx(1.3422, abs=1e-3)
    # the stored top1_std is never read: a forger cannot widen the band by editing it
    assert tolerance({**record["method"], "top1_std": 50.0}, None, 360) == pytest.approx(2.2613, abs=1e-3)
    # one finished seed, or none that vary: one test image
    assert tolerance(_arm([98.0, None]), None, 360) == pytest.approx(100 / 360)
    assert tolerance(_arm([98.0, 98.0, 98.0]), None, 360) == pytest.approx(100 / 360)


def test_a_rerun_is_identical_within_spread_or_not_reproduced():
    record = _record()
    assert judge(record, _verification(record, TOP1S[0]))["status"] == IDENTICAL
    assert judge(record, _verification(record, TOP1S[0] + 1.39))["status"] == WITHIN
    assert judge(record, _verification(record, TOP1S[0] - 4.0))["status"] == NOT_REPRODUCED
    assert judge(record, _verification(record, None))["status"] == NOT_REPRODUCED  # diverged on the rerun
    # every per-seed number counts for "identical", not only top-1
    other_curve = _verification(record, TOP1S[0])
    other_curve["rerun"]["method"]["runs"][0]["curve"][0]["train_loss"] = 0.6
    judged = judge(record, other_curve)
    assert judged["status"] == WITHIN and judged["results"][0]["method"]["differs"] == ["curve"]
    # a seed the rerun does not hold is not reproduced
    assert judge(record, {**_verification(record, TOP1S[0]), "seeds": [3]})["status"] == NOT_REPRODUCED


def test_the_environment_is_decided_by_retrained_dense_weights_never_by_the_record_s_own_fields():
    record = _record()
    assert same_environment(record, _verification(record, 98.0)) is None  # given weights: cannot tell
    assert same_environment(record, _verification(record, 98.0, source=RETRAINED)) is True
    assert same_environment(record, _verification(record, 98.0, source=RETRAINED, weights="b" * 64)) is False
    # retrained bitwise here: nothing less than bitwise counts
    assert judge(record, _verification(record, TOP1S[0] + 0.28, source=RETRAINED))["status"] == NOT_REPRODUCED
    # retrained differently (another CPU): the spread
    assert judge(record, _verification(record, TOP1S[0] + 0.28, source=RETRAINED, weights="b" * 64))["status"] == WITHIN
    # free-text environment fields in the record change nothing
    dressed = {**record, "environment": {"device": "anything", "torch": "0.0"}}
    assert judge(dressed, _verification(dressed, TOP1S[0] + 0.28, source=RETRAINED))["status"] == NOT_REPRODUCED


def test_the_network_must_come_back_from_the_same_dense_weights():
    record = _record()
    moved = _verification(record, TOP1S[0], flops=999)
    judged = judge(record, moved)
    assert judged["status"] == NOT_REPRODUCED and judged["results"][0]["method"]["differs"] == ["flops"]
    # from other dense weights (retrained elsewhere) the search may land on another structure: the spread decides
    elsewhere = _verification(record, TOP1S[0], flops=999, source=RETRAINED, weights="b" * 64)
    assert judge(record, elsewhere)["status"] == WITHIN


def test_every_arm_the_record_trained_is_judged():
    record = {**_record(), "random_control": _arm([90.0, 91.0, 92.0, 91.0, 90.5]),
              "allocation_control": "same_as_random_control"}
    verification = _verification(record, TOP1S[0])
    assert judge(record, verification)["status"] == NOT_REPRODUCED  # the control's rerun is missing
    control = copy.deepcopy(record["random_control"])
    control["runs"] = control["runs"][:1]
    verification["rerun"]["random_control"] = control
    judged = judge(record, verification)
    assert judged["status"] == IDENTICAL and set(judged["results"][0]) == {"seed", "method", "random_control", "status"}
