"""Fair groups: entries are ranked only against entries with the same dataset, model, dense recipe
and weights, retraining protocol and cost level (bench.leaderboard.levels). One entry is one
record's method arm, compared with that record's own random control (paired by seed) and dense model.
A family is one protocol's groups at every level: they meet only on its accuracy-vs-FLOPs plot.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from bench.core.config import canonical_json
from bench.core.records import collapsed
from bench.leaderboard import levels
from bench.leaderboard.levels import Level
from bench.leaderboard.load import Submission
from bench.leaderboard.stats import ALPHA, Difference, Summary, difference, summary

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
ADAPTER_MODULE = re.compile(r"^bench\.adapters\.([A-Za-z_][A-Za-z0-9_]*)$")

# Why an entry sits where it does; shown in the verdict column and used to split the ranking.
BEATS = "beats its random control"
TIED = "tied"
BEATEN = "beaten by random"
TOO_FEW = "n too small"  # fewer than 2 seeds in both arms: no interval
VERDICTS = {1: BEATS, 0: TIED, -1: BEATEN, None: TOO_FEW}
CONTROL = "control"  # the entry *is* random pruning
NO_CONTROL = "no control"
REFERENCE = "from-scratch reference"  # the width-scaled dense model: an architecture, never a control
# The adapter of the width-scaled dense model trained from scratch (adapters/width_scaled.py), named
# here because the leaderboard never imports the adapters. Its entries are also drawn as a series on
# every accuracy-vs-FLOPs plot of the same dense baseline.
WIDTH_SCALED = "width-scaled"
CONTROL_DIVERGED = "control diverged"
ALLOCATION_ARM = "own"  # the record trained an allocation control of its own
ALLOCATION_SAME = "same as random control"  # uniform widths at its FLOPs are its own widths
DIVERGED = "diverged"  # a seed of the method diverged: not ranked
# Not tests: the same runs on both sides (Scratch-B's l1-norm and its control keep the same channels),
# or a group whose schedule is another group's under another name (bench.leaderboard.verdicts).
IDENTICAL = "same runs as its control"
SAME_SCHEDULE = "same schedule"


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


def _family_name(key: dict[str, Any]) -> str:
    rounds = f"-x{key['protocol']['iterations']}" if "iterations" in key["protocol"] else ""
    return f"{key['dataset']['name']}-{key['model']}-{key['protocol']['name']}{rounds}"


def slug(key: dict[str, Any], readable: str | None = None) -> str:
    """Filesystem-safe and stable: `readable` (by default dataset-model-protocol of a group key), then a
    hash of the key that keeps keys differing only in hidden fields apart."""
    readable = _family_name(key) if readable is None else readable
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
    kind: str
    target: str
    epochs: int
    seeds: int
    params: int
    flops: int
    params_reduction_pct: float
    flops_reduction_pct: float
    runs: dict[int, float]  # seed → top-1, the seeds that finished
    top1: Summary | None  # None when a seed diverged: the entry is not ranked
    diverged: bool
    dense_run_id: str
    dense_top1: float
    dense_params: int
    dense_flops: int
    control_runs: dict[int, float]
    control: Summary | None  # over the control's finished seeds
    control_flops: int | None
    vs_random: Difference | None  # method minus its own control, paired by seed
    status: str  # a verdict (BEATS, TIED, BEATEN, TOO_FEW), CONTROL, NO_CONTROL, REFERENCE, CONTROL_DIVERGED,
    # DIVERGED, IDENTICAL or SAME_SCHEDULE
    speedup: dict[str, float] | None = None  # measured vs FLOPs speedup, in records that carry latency
    rank: int | None = None
    verified: tuple[str, str] | None = None  # `bench verify`'s (outcome, where it ran), e.g. ("identical", "cpu (x86_64, ...)")
    run_keys: dict[int, str] = field(default_factory=dict)  # seed → run key (records that state them)
    control_keys: dict[int, str] = field(default_factory=dict)
    collapsed: dict[int, float] = field(default_factory=dict)  # seed → top-1 of each collapsed run
    control_collapsed: dict[int, float] = field(default_factory=dict)
    holm: float | None = None  # Holm-adjusted p of the test against the control, across the leaderboard
    # The allocation control (uniform random pruning in the layout at the method's FLOPs): ALLOCATION_ARM
    # where the record trained one, ALLOCATION_SAME where it is the random control's network, None if not run.
    allocation: str | None = None
    vs_allocation: Difference | None = None  # method minus its allocation control, paired by seed

    @property
    def flops_speedup(self) -> float:
        """Dense FLOPs ÷ the entry's FLOPs: the cost it is ranked at."""
        return self.dense_flops / max(self.flops, 1)

    @property
    def source_path(self) -> str | None:
        """Repository path of a built-in adapter's source, e.g. adapters/l1_norm.py."""
        match = ADAPTER_MODULE.match(self.module or "")
        return f"adapters/{match.group(1)}.py" if match else None

    @property
    def method_id(self) -> tuple[str, str]:
        """The same method: the same adapter with the same arguments."""
        return self.adapter, canonical_json(self.args)

    @property
    def top1_mean(self) -> float | None:
        return None if self.top1 is None else self.top1.mean

    @property
    def delta_dense(self) -> float | None:
        return None if self.top1 is None else self.top1.mean - self.dense_top1

    @property
    def delta_random(self) -> float | None:
        return None if self.vs_random is None else self.vs_random.mean

    @property
    def has_control(self) -> bool:
        return self.status in VERDICTS.values()

    @property
    def tested(self) -> bool:
        """Whether the entry is a test against its control (one of family (a)): an interval and a p."""
        return self.status in (BEATS, TIED, BEATEN) and self.vs_random is not None and self.vs_random.p is not None

    @property
    def survives(self) -> bool:
        """A verdict (beats or beaten) that holds after Holm's correction."""
        return self.status in (BEATS, BEATEN) and self.holm is not None and self.holm < ALPHA


def finished_runs(arm: dict | str | None) -> dict[int, float]:
    """Seed → top-1 of an arm's runs that finished (none for a missing arm, or one named by a string)."""
    if not isinstance(arm, dict):
        return {}
    return {run["seed"]: run["top1"] for run in arm["runs"] if not run["diverged"] and run["top1"] is not None}


def _keys(arm: dict | None) -> dict[int, str]:
    return {} if arm is None else {run["seed"]: run["run_key"] for run in arm["runs"] if "run_key" in run}


def _collapsed(arm: dict | None, classes: int) -> dict[int, float]:
    """Seed → top-1 of the runs that collapsed: the stated flag, or the rule for records without one."""
    if arm is None:
        return {}
    return {run["seed"]: run["top1"] for run in arm["runs"] if run.get("collapsed", collapsed(run, classes))}


def same_runs(a: dict[int, str], b: dict[int, str]) -> bool:
    """Two arms made of the very same runs: every seed's run key stated and equal."""
    return bool(a) and a == b


def entry(sub: Submission) -> Entry:
    r = sub.record
    method, control, dense = r["method"], r["random_control"], r["dense"]
    runs, control_runs = finished_runs(method), finished_runs(control)
    diverged = method["diverged"] or method["top1_mean"] is None
    vs_random = None
    if diverged:
        status = DIVERGED
    elif r["adapter"]["name"] == "random":
        status = CONTROL
    elif r["adapter"]["name"] == WIDTH_SCALED:
        status = REFERENCE
    elif control is None:
        status = NO_CONTROL
    elif same_runs(_keys(method), _keys(control)) and runs == control_runs:
        status = IDENTICAL  # no test: a difference of 0 with a point interval says nothing
    else:
        vs_random = difference(runs, control_runs)
        status = CONTROL_DIVERGED if vs_random is None else VERDICTS[vs_random.sign]
    classes = r["dataset"]["num_classes"]
    allocation, vs_allocation = _allocation(r.get("allocation_control"), runs, vs_random, diverged)
    return Entry(
        file=sub.file, run_id=r["run_id"], adapter=r["adapter"]["name"], args=r["adapter"]["args"],
        module=r["adapter"].get("module"), paper=r["adapter"].get("paper"), kind=r["adapter"]["kind"],
        target=r["target"]["description"], epochs=r["protocol"]["epochs"], seeds=len(method["runs"]),
        params=method["params"], flops=method["flops"],
        params_reduction_pct=method["params_reduction_pct"], flops_reduction_pct=method["flops_reduction_pct"],
        runs=runs, top1=None if diverged else summary(list(runs.values())), diverged=diverged,
        dense_run_id=dense["run_id"], dense_top1=dense["test_top1"],
        dense_params=dense["params"], dense_flops=dense["flops"],
        control_runs=control_runs, control=summary(list(control_runs.values())),
        control_flops=control["flops"] if control is not None else None,
        vs_random=vs_random, status=status,
        speedup=method.get("latency", {}).get("speedup"),
        verified=_verified(sub.verification),
        run_keys=_keys(method), control_keys=_keys(control),
        collapsed=_collapsed(method, classes), control_collapsed=_collapsed(control, classes),
        allocation=allocation, vs_allocation=vs_allocation,
    )


def _allocation(arm: dict | str | None, runs: dict[int, float], vs_random: Difference | None,
                diverged: bool) -> tuple[str | None, Difference | None]:
    if arm is None:
        return None, None
    if isinstance(arm, str):  # the random control's network: the same comparison
        return ALLOCATION_SAME, vs_random
    return ALLOCATION_ARM, None if diverged else difference(runs, finished_runs(arm))


def _verified(verification: dict | None) -> tuple[str, str] | None:
    return None if verification is None else (verification["status"], verification["environment"]["device"])


def _order(e: Entry) -> tuple:
    return (-(e.top1_mean or 0.0), e.adapter, e.run_id)


def rank(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(ranked, diverged). Best top-1 first, whatever the entry's control: an entry without one is
    marked in its verdict column, not demoted (accuracy is what the ranking states)."""
    live = [e for e in entries if not e.diverged]
    ranked = [replace(e, rank=i) for i, e in enumerate(sorted(live, key=_order), 1)]
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
    key: dict[str, Any]  # family_key + level
    slug: str
    level: Level
    family: str  # the family's slug: its accuracy-vs-FLOPs plot
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
    def baseline(self) -> dict[str, Any]:
        return {k: v for k, v in self.key.items() if k not in ("protocol", "level")}

    @property
    def flops_budget(self) -> bool:
        return self.protocol["epochs"] == "flops budget"

    @property
    def has_speedup(self) -> bool:
        return any(e.speedup is not None for e in self.ranked)

    @property
    def protocol_text(self) -> str:
        rounds = f" × {self.protocol['iterations']} iterations" if "iterations" in self.protocol else ""
        return f"{self.protocol['name']}{rounds} (v{self.protocol['version']})"

    @property
    def family_title(self) -> str:
        return f"{self.dataset} · {self.model} · {self.protocol_text}"

    @property
    def title(self) -> str:
        return f"{self.family_title} · {self.level.text}"

    @property
    def entries(self) -> list[Entry]:
        return self.ranked + self.diverged

    @property
    def filters(self) -> dict[str, str]:
        """What the index page filters on (data attributes of the group's row)."""
        return {"dataset": self.dataset, "model": self.model, "protocol": self.protocol_text,
                "level": self.level.label, "kind": self.level.kind}


@dataclass(frozen=True)
class Family:
    slug: str
    title: str
    groups: list[Group]  # one per level, in level order
    # The width-scaled dense model from scratch with the same dense baseline, under any scratch
    # protocol: (protocol text, entry), drawn as a reference series on the family's plot.
    width_scaled: tuple[tuple[str, Entry], ...] = ()

    @property
    def entries(self) -> list[Entry]:
        return [e for g in self.groups for e in g.entries]

    @property
    def methods(self) -> list[Entry]:
        """The family's pruned entries with a result (the width-scaled reference is drawn apart)."""
        return [e for e in self.entries if e.top1 is not None and e.adapter != WIDTH_SCALED]

    @property
    def dense(self) -> list[Dense]:
        return sorted({d for g in self.groups for d in g.dense}, key=lambda d: (d.run_id, d.top1))


def build_groups(submissions: list[Submission]) -> list[Group]:
    records = [sub.record for sub in submissions]
    level_of = levels.assign(records, lambda r: canonical_json(baseline_key(r)))
    by_key: dict[str, tuple[dict, Level, list[Entry]]] = {}
    for sub, level in zip(submissions, level_of):
        key = {**family_key(sub.record), "level": level.key}
        by_key.setdefault(canonical_json(key), (key, level, []))[2].append(entry(sub))
    groups = []
    for key, level, entries in by_key.values():
        ranked, diverged = rank(entries)
        dense = sorted({Dense(e.dense_run_id, e.dense_top1, e.dense_params, e.dense_flops) for e in entries},
                       key=lambda d: (d.run_id, d.top1))
        family = {k: v for k, v in key.items() if k != "level"}
        groups.append(Group(key, slug(key, f"{_family_name(key)}-{level.text}"), level,
                            slug(family, f"pareto-{_family_name(key)}"), ranked, diverged, dense))
    return sorted(groups, key=_group_order)


def families(groups: list[Group]) -> list[Family]:
    by_slug: dict[str, list[Group]] = {}
    for g in groups:
        by_slug.setdefault(g.family, []).append(g)
    scaled: dict[str, list[tuple[str, Entry]]] = {}  # baseline → the width-scaled series
    for g in groups:
        if g.protocol["schedule"] == "scratch":
            scaled.setdefault(canonical_json(g.baseline), []).extend(
                (g.protocol_text, e) for e in g.entries if e.adapter == WIDTH_SCALED and e.top1 is not None
            )
    titles = [members[0].family_title for members in by_slug.values()]
    out = []
    for name, members in by_slug.items():
        series = sorted(scaled.get(canonical_json(members[0].baseline), []), key=lambda p: (p[0], p[1].flops, p[1].run_id))
        title = members[0].family_title
        if titles.count(title) > 1:  # same protocol from other dense weights (e.g. slimming's penalized model)
            title += " · dense " + ", ".join(sorted({d.run_id for g in members for d in g.dense}))
        out.append(Family(name, title, members, tuple(series)))
    return out


def _group_order(g: Group) -> tuple:
    p = g.protocol
    return (g.dataset, g.key["dataset"]["split_seed"], g.model, p["name"], p["version"], g.family,
            -max(e.flops for e in g.entries), g.level.kind, g.slug)  # least pruned level first
