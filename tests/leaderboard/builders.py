"""Submission records for the leaderboard's tests: the real example record with the fields a test cares about
changed (`make`), written into a submissions folder (`put`), grouped or built into a board, and the rows of
a generated markdown table read back."""

from __future__ import annotations

import copy
import hashlib
import json
import statistics
from pathlib import Path

from bench.leaderboard.board import build
from bench.leaderboard.group import build_groups
from bench.leaderboard.load import load_folder


def make(example: dict, *, adapter: str = "hrankplus", top1: float = 95.0, std: float | None = 0.5,
         control: float | None = 90.0, protocol: str = "clr-3", epochs: int = 3, ratio: float = 0.5,
         module: str | None = None, paper: str | None = None, diverged: bool = False, seeds: int | None = None,
         runs: list[float] | None = None, control_runs: list[float] | None = None, flops: float | None = None,
         config: str | None = None, kind: str | None = None, **protocol_fields) -> dict:
    """The real example record with the fields a test cares about changed (and a fresh run_id).
    `runs`/`control_runs` give every seed's top-1 (and the number of seeds); `flops` is the pruned
    arms' FLOPs as a fraction of the dense model's; `config` replaces the ratio with a named config."""
    r = copy.deepcopy(example)
    r["adapter"]["name"] = r["method"]["adapter"] = adapter
    if module is not None:
        r["adapter"]["module"] = module
    if paper is not None:
        r["adapter"]["paper"] = paper
    if kind is not None:
        r["adapter"]["kind"] = kind
    r["protocol"].update(name=protocol, epochs=epochs, **protocol_fields)
    if config is None:
        r["target"].update(ratio=ratio, description=f"ratio={ratio:g}")
    else:
        r["target"].update(ratio=None, config=config, description=f"config={config}")
    with_seeds(r, seeds or len(runs or control_runs or r["seeds"]))
    if flops is not None:
        for arm in (r["method"], r["random_control"]):
            arm["flops"] = round(flops * r["dense"]["flops"])
            arm["flops_reduction_pct"] = round(100 * (1 - arm["flops"] / r["dense"]["flops"]), 4)
    m = r["method"]
    if runs is not None:
        set_runs(m, runs)
    else:
        with_runs(m, top1, std)
    if diverged:
        m.update(diverged=True, top1_mean=None, top1_std=None, top5_mean=None)
        for run in m["runs"]:
            run.update(diverged=True, top1=None, top5=None)
    if control is None and control_runs is None:
        r["random_control"] = None
    elif control_runs is not None:
        set_runs(r["random_control"], control_runs)
    else:
        with_runs(r["random_control"], control, r["random_control"]["top1_std"])
    r["run_id"] = hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest()[:12]
    return r


def with_seeds(record: dict, n: int) -> None:
    """Seeds 0..n-1 in the record and both arms, each run copied from the example's runs in turn."""
    record["seeds"] = list(range(n))
    for arm in (record["method"], record["random_control"]):
        runs = arm["runs"]
        arm["runs"] = [dict(copy.deepcopy(runs[i % len(runs)]), seed=i) for i in range(n)]
        arm["top5_mean"] = statistics.fmean(run["top5"] for run in arm["runs"])


def set_runs(arm: dict, values: list[float]) -> None:
    """Every seed's top-1, with the mean and std they give (records must agree with their own runs)."""
    assert len(values) == len(arm["runs"])
    for run, value in zip(arm["runs"], values):
        run["top1"] = value
    arm["top1_mean"] = statistics.fmean(values)
    arm["top1_std"] = statistics.stdev(values) if len(values) > 1 else 0.0


def with_runs(arm: dict, mean: float, std: float | None) -> None:
    """Set an arm's top-1 mean and std, and per-seed results that give exactly them (records must
    agree with their own runs). With several runs the values are mean + std * z, z centred with unit
    standard deviation."""
    runs = arm["runs"]
    z = [i - (len(runs) - 1) / 2 for i in range(len(runs))]
    scale = (std or 0.0) / statistics.stdev(z) if len(runs) > 1 else 0.0
    if len(runs) > 1:
        scale = min(scale, max(100.0 - mean, 0.0) / max(z))  # accuracies stay within 100%
    set_runs(arm, [mean + scale * zi for zi in z])


def put(folder: Path, name: str, record: dict | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    return path


def groups_of(folder: Path):
    good, rejected = load_folder(folder)
    assert not rejected, rejected
    return build_groups(good)


def md_rows(markdown: str) -> list[list[str]]:
    """Every markdown table body row as its stripped cells (headers are the lines above a rule)."""
    lines = markdown.splitlines() + [""]
    body = [line for line, below in zip(lines, lines[1:])
            if line.startswith("|") and not line.startswith("|-") and not below.startswith("|-")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in body]


def put_mixed(subs: Path, example: dict) -> None:
    put(subs, "a.json", make(example, adapter="a", top1=95.0, module="bench.adapters.l1_norm"))
    put(subs, "b.json", make(example, adapter="b", top1=93.0, control=94.0))
    put(subs, "team/c.json", make(example, adapter="a", top1=91.0, protocol="ft-3", schedule="ft"))
    put(subs, "team/d.json", make(example, adapter="b", top1=92.0, protocol="ft-3", schedule="ft", control=None))
    put(subs, "e.json", make(example, adapter="e", diverged=True))


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def width_scaled_record(example: dict, ratio: float, top1: float, digest: str = "1" * 64) -> dict:
    r = make(example, adapter="width-scaled", protocol="scratch-e", epochs=38, schedule="scratch", reinitialize=True,
             ratio=ratio, top1=top1, control=None, flops=(1 - ratio) ** 2)
    r["dense"]["weights_sha256"] = digest
    r["run_id"] = hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest()[:12]
    return r


def with_weights(record: dict, digest: str) -> dict:
    record["dense"]["weights_sha256"] = digest
    record["run_id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    return record


def board_of(folder):
    good, rejected = load_folder(folder)
    assert not rejected, rejected
    return build(good, rejected)


def reseed(record: dict, first: int) -> dict:
    """The record's seeds renumbered from `first` (a record whose seeds another does not share)."""
    record["seeds"] = [first + i for i in range(len(record["seeds"]))]
    for arm in (record["method"], record["random_control"]):
        for seed, run in zip(record["seeds"], arm["runs"]):
            run["seed"] = seed
    record["run_id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    return record


def with_allocation(record: dict, values: list[float] | None) -> dict:
    """The record with an allocation control of its own (every seed's top-1), or the random control's network."""
    if values is None:
        record["allocation_control"] = "same_as_random_control"
    else:
        arm = json.loads(json.dumps(record["random_control"]))
        arm["adapter"] = "random"
        for run, value in zip(arm["runs"], values):
            run["top1"] = value
        arm["top1_mean"] = sum(values) / len(values)
        arm["top1_std"] = float(__import__("statistics").stdev(values))
        record["allocation_control"] = arm
    record["run_id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    return record


def rehash(record: dict) -> dict:
    record["run_id"] = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    return record


def keyed(record: dict, method: str, control: str | None = None) -> dict:
    """Run keys for every seed: `method`/`control` name the runs (the same name: the same runs)."""
    for arm, name in (("method", method), ("random_control", control)):
        if name is not None:
            for run in record[arm]["runs"]:
                run["run_key"] = hashlib.sha256(f"{name}-{run['seed']}".encode()).hexdigest()[:12]
    return rehash(record)


A = [95.0, 96.5, 94.0, 97.0, 95.5]


B = [93.0, 95.5, 93.5, 95.0, 94.0]


FT = [94.0, 94.6, 93.8, 94.4, 94.2]


CLR = [f + d for f, d in zip(FT, [0.9, 1.1, 0.8, 1.2, 1.0])]  # better on every seed


LRW = [f - d for f, d in zip(FT, [0.9, 1.1, 0.8, 1.2, 1.0])]  # worse on every seed


SLR = [f + d for f, d in zip(FT, [0.5, -0.6, 0.3, -0.4, 0.1])]  # no consistent difference


def put_schedules(subs, example, adapter="a", controls=None, epochs=20, **fields):
    """One record per schedule at the same budget: 20 of the example's 30 recipe epochs, so that LRW
    replays two LR phases and differs from FT (a budget within the last phase would make them equal)."""
    controls = controls or {}
    for schedule, runs in (("ft", FT), ("clr", CLR), ("lrw", LRW), ("slr", SLR)):
        put(subs, f"{adapter}-{schedule}.json", make(
            example, adapter=adapter, runs=runs, control_runs=controls.get(schedule, [r - 3 for r in runs]),
            protocol=f"{schedule}-{epochs}", epochs=epochs, schedule=schedule, **fields))
