"""Retraining protocols as data: versioned TOML recipes, resolved against a dataset's original `Recipe`.

A protocol is named `<schedule>-<epochs>` (`ft-40`, `lrw-80`, `slr-80`, `clr-90`) or `scratch-e` /
`scratch-b`. The schedules follow Le & Hua, "Network Pruning That Matters: A Case Study on Retraining
Variants" (ICLR 2021), Sec. 2: FT keeps the original training's smallest LR; LRW replays the last t
epochs of the original schedule (Renda et al. 2020); SLR compresses the original step schedule to t
epochs; CLR is the 1-cycle schedule (Smith & Topin 2019); Scratch-E/B retrain the pruned
architecture from random init (Liu et al. 2019). The LR is computed per optimizer step, in closed
form, so that every run (and the plot of its schedule) agrees exactly on which LR each step uses.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from bench.core.config import Recipe, sequence_hash, to_jsonable
from bench.core.one_cycle import one_cycle_lr
from bench.errors import BenchError, UnknownNameError, did_you_mean
from bench.infra import toml_files

SCHEDULES = ("ft", "lrw", "slr", "clr", "scratch")
# Schedules that any `<schedule>-<epochs>` name can synthesize without a shipped file.
SYNTHESIZABLE = ("ft", "lrw", "slr", "clr")
# A bound on every schedule's length: 60x ImageNet's 90-epoch recipe, far past any published budget,
# and small enough that a schedule's per-step LRs fit in memory.
MAX_EPOCHS = 10_000
# And on an epoch's: ImageNet at batch size 1 is 1.28 million steps.
MAX_STEPS_PER_EPOCH = 10_000_000
# The paper warms SLR and CLR up for the first 10% of the retraining budget (Sec. 2, Appendix F).
DEFAULT_WARMUP = {"ft": 0.0, "lrw": 0.0, "slr": 0.1, "clr": 0.1, "scratch": 0.0}
SCRATCH_BUDGETS = ("epochs", "flops")
# Not a protocol schedule: the original training's step schedule, which a pruner that trains before
# the protocol (SFP's soft pruning) follows; see `original_schedule`.
ORIGINAL = "original"

_DESCRIPTIONS = {
    "ft": "Fine-tuning (FT): retrain for {e} epochs at the smallest learning rate of the original training (Le & Hua 2021, Sec. 2).",
    "lrw": "Learning-rate rewinding (LRW, Renda et al. 2020): retrain for {e} epochs replaying the last {e} epochs of the original learning-rate schedule (Le & Hua 2021, Sec. 2).",
    "slr": "Scaled learning-rate restarting (SLR): the original step schedule compressed to {e} epochs, after a warmup from the smallest to the largest original learning rate (Le & Hua 2021, Sec. 2).",
    "clr": "Cyclic learning-rate restarting (CLR): a 1-cycle schedule (Smith & Topin 2019) over {e} epochs, cosine warmup from the smallest to the largest original learning rate then cosine annealing back (Le & Hua 2021, Sec. 2).",
}

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SYNTH_RE = re.compile(r"^(ft|lrw|slr|clr)-(\d+)$")
_PACKAGE = "bench.protocol_files"
# Used when the package is not importable (running from a source checkout that is not installed).
_REPO_DIR = Path(__file__).resolve().parents[2] / "protocols"


@dataclass(frozen=True)
class Protocol:
    """One retraining protocol exactly as its TOML file states it (nothing resolved yet)."""

    name: str
    version: int
    schedule: str
    description: str
    epochs: int | None = None  # None only for scratch, whose budget derives from the original run
    warmup_fraction: float = 0.0
    reinitialize: bool = False
    budget: str | None = None  # scratch only: "epochs" (Scratch-E) or "flops" (Scratch-B)
    extra_epochs: int | None = None  # Scratch-E only: epochs added to the original training's


@dataclass(frozen=True)
class ResolvedProtocol:
    """A protocol bound to a dataset's original recipe: concrete epochs and LRs, LR per step."""

    name: str
    version: int
    schedule: str
    epochs: int
    warmup_fraction: float
    lr_max: float
    lr_min: float
    reinitialize: bool
    batch_size: int
    momentum: float
    nesterov: bool
    weight_decay: float
    recipe_epochs: int
    milestones: tuple[float, ...]  # of the original step schedule, as fractions of its epochs
    gamma: float
    flops_ratio: float | None = None  # dense/pruned FLOPs; recorded for Scratch-B only
    budget_epochs: int | None = None  # the budget as named, where the recipe scales it (digits: 40 → 8 epochs)

    @property
    def _recipe(self) -> Recipe:
        # Rebuilt rather than stored so that `to_dict` stays flat; step_lr is the single source of
        # truth for what "the original step schedule" means.
        return Recipe(
            epochs=self.recipe_epochs, lr=self.lr_max, milestones=self.milestones,
            gamma=self.gamma, batch_size=self.batch_size,
        )

    def total_steps(self, steps_per_epoch: int) -> int:
        _check_steps_per_epoch(steps_per_epoch)
        return self.epochs * steps_per_epoch

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """The LR the optimizer uses for 0-based optimizer step `step`."""
        total = self.total_steps(steps_per_epoch)
        if not 0 <= step < total:
            raise ValueError(f"step {step} is outside [0, {total}) for {self.name}")
        return self.lr_fn(steps_per_epoch)(step)

    def lr_steps(self, steps_per_epoch: int) -> Iterator[float]:
        """The LR of every optimizer step, in order, one at a time: a schedule is never held whole
        (ImageNet's are 10^5-10^6 steps, and a hostile one could be far longer)."""
        fn = self.lr_fn(steps_per_epoch)
        return (fn(s) for s in range(self.total_steps(steps_per_epoch)))

    def lr_schedule(self, steps_per_epoch: int) -> list[float]:
        """The LR of every optimizer step as a list (`bench protocols show --json`, tests)."""
        return list(self.lr_steps(steps_per_epoch))

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResolvedProtocol:
        """Back from `to_dict` (a record's `protocol`; keys it does not know, such as `iterations`,
        are left out). A KeyError or TypeError when a field is missing or malformed."""
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in known}
        return cls(**{**fields, "milestones": tuple(fields["milestones"])})

    def lr_fn(self, spe: int) -> Callable[[int], float]:
        recipe, t, total = self._recipe, self.epochs, self.epochs * spe
        if self.schedule == "ft":
            return lambda s: self.lr_min
        if self.schedule == "lrw":
            # Replay epochs [recipe_epochs - t, recipe_epochs) of the original run.
            return lambda s: recipe.step_lr(self.recipe_epochs - t + s // spe)
        if self.schedule in ("scratch", ORIGINAL):
            return lambda s: recipe.step_lr(s // spe, t)
        if self.schedule == "slr":
            warm = self.warmup_fraction * total  # in steps; a float so no rounding drift

            def slr(s: int) -> float:
                if s < warm:  # cosine rise per iteration from lr_min, as the paper's Sec. 2 specifies
                    return self.lr_min + (self.lr_max - self.lr_min) * (1 - math.cos(math.pi * s / warm)) / 2
                return recipe.step_lr(s // spe, t)

            return slr
        if self.schedule == "clr":
            return lambda s: one_cycle_lr(s, total, self.lr_max, self.lr_min, self.warmup_fraction)
        raise AssertionError(f"unhandled schedule {self.schedule!r}")  # validated at load time


# Besides the learning rate, what decides how a retraining run trains.
_TRAINING_FIELDS = ("epochs", "batch_size", "momentum", "nesterov", "weight_decay", "reinitialize")


def training_identity(resolved: ResolvedProtocol, steps_per_epoch: int) -> dict[str, Any]:
    """What a protocol does to the weights, without its name: the optimiser, the start and the hash of
    the LR of every step. Retraining runs are keyed by it, so a schedule that is another under a new
    name (LRW-40 is FT-40 on digits) reuses that one's runs instead of training them again."""
    return {
        **{f: getattr(resolved, f) for f in _TRAINING_FIELDS},
        "lr": sequence_hash(resolved.lr_steps(steps_per_epoch), 32),
    }


def same_schedule(a: ResolvedProtocol, b: ResolvedProtocol, steps_per_epoch: int) -> bool:
    """Whether two resolved protocols train alike: the same epochs, batch size, optimiser and start,
    and the same learning rate at every one of their steps. Such protocols differ only in name (LRW
    over the original schedule's last LR phase is FT: LRW-40 on CIFAR's 160 epochs, as Le & Hua note,
    and on digits' 30), so the runs of one are the runs of the other and are compared once."""
    if any(getattr(a, f) != getattr(b, f) for f in _TRAINING_FIELDS):
        return False
    return all(x == y for x, y in zip(a.lr_steps(steps_per_epoch), b.lr_steps(steps_per_epoch)))


def _check_steps_per_epoch(spe: int) -> None:
    if isinstance(spe, bool) or not isinstance(spe, int) or spe < 1:
        raise ValueError(f"steps_per_epoch must be a positive int, got {spe!r}")
    if spe > MAX_STEPS_PER_EPOCH:
        raise BenchError(f"{spe:,} steps per epoch: at most {MAX_STEPS_PER_EPOCH:,} are allowed")


# --------------------------------------------------------------------------------------- loading


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _package_dir() -> Any:
    """The folder of shipped protocol files: the installed package, else the repo's protocols/."""
    try:
        from importlib.resources import files

        return files(_PACKAGE)
    except ModuleNotFoundError:
        return _REPO_DIR


def _shipped() -> dict[str, Any]:
    folder = _package_dir()
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return {}
    return {e.name[: -len(".toml")]: e for e in entries if e.name.endswith(".toml")}


def list_protocols() -> list[str]:
    """Names of the shipped protocol files, sorted."""
    return sorted(_shipped())


def load_protocol(name_or_path: str | os.PathLike[str]) -> Protocol:
    """A shipped protocol by name, a .toml file by path, or a synthesized `<schedule>-<epochs>`."""
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or text.endswith(".toml") or os.sep in text or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise BenchError(f"protocol file not found: {path}")
        return parse_protocol(path.read_text(encoding="utf-8"), source=str(path))

    key = _normalize(text)
    shipped = _shipped()
    if key in shipped:
        entry = shipped[key]
        proto = parse_protocol(entry.read_text(encoding="utf-8"), source=f"protocols/{entry.name}")
        if proto.name != key:  # a copied file whose name was not updated would record the wrong name
            raise BenchError(f"protocols/{entry.name}: field 'name' is {proto.name!r} but the file is named {key!r}")
        return proto

    m = _SYNTH_RE.match(key)
    if m:
        schedule, digits = m.group(1), m.group(2)
        if len(digits) > 6 or not 1 <= int(digits) <= MAX_EPOCHS:
            raise BenchError(f"protocol {text[:40]!r}: epochs must be between 1 and {MAX_EPOCHS:,}")
        epochs = int(digits)
        return Protocol(
            name=key, version=1, schedule=schedule, epochs=epochs,
            warmup_fraction=DEFAULT_WARMUP[schedule], reinitialize=False,
            description=_DESCRIPTIONS[schedule].format(e=epochs),
        )

    hint = did_you_mean(key, shipped, n=3, cutoff=0.5)
    raise UnknownNameError(
        f"unknown protocol {text!r}{hint} (shipped: {', '.join(sorted(shipped))}; "
        f"or <schedule>-<epochs> for {'/'.join(SYNTHESIZABLE)}, or a path to a .toml file)"
    )


def parse_protocol(text: str, *, source: str = "<string>") -> Protocol:
    """Validate TOML text into a Protocol; every problem is a one-line BenchError naming source and field."""
    data = toml_files.parse(text, source=source)

    def fail(field: str, msg: str) -> BenchError:
        return BenchError(f"{source}: field {field!r} {msg}")

    toml_files.check_keys(data, sorted(f.name for f in dataclasses.fields(Protocol)), lambda msg: BenchError(f"{source}: {msg}"), "field")

    def get(field: str, kind: type | tuple[type, ...], required: bool = True) -> Any:
        if field not in data:
            if required:
                raise fail(field, "is missing")
            return None
        value = data[field]
        if not toml_files.is_kind(value, kind):  # `epochs = true` is never meant, though bool is an int
            raise fail(field, f"must be {toml_files.kind_name(kind)}, got {type(value).__name__} {value!r}")
        return value

    name = get("name", str)
    if not _NAME_RE.match(name):
        raise fail("name", f"must be lowercase letters, digits, '.', '_' or '-', got {name!r}")
    version = get("version", int)
    if version < 1:
        raise fail("version", f"must be >= 1, got {version}")
    schedule = get("schedule", str)
    if schedule not in SCHEDULES:
        raise fail("schedule", f"must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    description = get("description", str)
    if not description.strip():
        raise fail("description", "must not be empty")

    warmup = get("warmup_fraction", (int, float), required=False)
    warmup = DEFAULT_WARMUP[schedule] if warmup is None else float(warmup)
    if not (0.0 <= warmup < 1.0):  # also rejects nan
        raise fail("warmup_fraction", f"must be in [0, 1), got {warmup}")
    if schedule not in ("slr", "clr") and warmup != 0.0:
        # Only SLR and CLR warm up; a nonzero value elsewhere would be silently ignored.
        raise fail("warmup_fraction", f"must be 0 for schedule {schedule!r} (only slr and clr warm up)")

    reinit = get("reinitialize", bool, required=False)
    reinit = (schedule == "scratch") if reinit is None else reinit

    epochs = get("epochs", int, required=schedule != "scratch")
    budget = get("budget", str, required=schedule == "scratch")
    extra = get("extra_epochs", int, required=False)
    if schedule == "scratch":
        if epochs is not None:
            raise fail("epochs", "must not be set for scratch: it derives from the original training (see 'budget')")
        if budget not in SCRATCH_BUDGETS:
            raise fail("budget", f"must be one of {', '.join(SCRATCH_BUDGETS)}, got {budget!r}")
        if not reinit:
            raise fail("reinitialize", "must be true for scratch (it trains the pruned architecture from random init)")
        if budget == "epochs":
            if extra is None:
                raise fail("extra_epochs", "is missing (budget = \"epochs\" trains original epochs + extra_epochs)")
            if extra < 0:
                raise fail("extra_epochs", f"must be >= 0, got {extra}")
        elif extra is not None:
            raise fail("extra_epochs", "is only allowed with budget = \"epochs\"")
    else:
        if epochs < 1:
            raise fail("epochs", f"must be positive, got {epochs}")
        for field in ("budget", "extra_epochs"):
            if field in data:
                raise fail(field, "is only allowed for schedule 'scratch'")

    return Protocol(
        name=name, version=version, schedule=schedule, description=description, epochs=epochs,
        warmup_fraction=warmup, reinitialize=reinit, budget=budget, extra_epochs=extra,
    )


# ------------------------------------------------------------------------------------- resolving


def resolve(protocol: Protocol | str, recipe: Recipe, *, flops_ratio: float | None = None) -> ResolvedProtocol:
    """Bind a protocol to the dataset's original recipe: concrete epochs and the LR range to use."""
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    p = protocol
    recorded_ratio: float | None = None

    if p.schedule == "scratch" and p.budget == "epochs":
        epochs = recipe.epochs + (recipe.budget(p.extra_epochs) if p.extra_epochs else 0)
    elif p.schedule == "scratch":
        if flops_ratio is None:
            raise BenchError(f"{p.name} needs the pruned model's FLOPs to size its budget (pass --flops-ratio dense/pruned)")
        if isinstance(flops_ratio, bool) or not isinstance(flops_ratio, (int, float)) or not math.isfinite(flops_ratio):
            raise BenchError(f"{p.name}: flops ratio must be a finite number, got {flops_ratio!r}")
        if flops_ratio < 1:
            raise BenchError(f"{p.name}: flops ratio (dense/pruned FLOPs) must be >= 1, got {flops_ratio}")
        recorded_ratio = float(flops_ratio)
        epochs = round(recipe.epochs * recorded_ratio)  # same FLOPs as the dense training (Liu et al. 2019)
    else:
        assert p.epochs is not None  # guaranteed by parse_protocol / synthesis
        epochs = recipe.budget(p.epochs)
        if p.schedule == "lrw" and epochs > recipe.epochs:
            of = f" ({p.epochs} of {recipe.budget_epochs} budget epochs)" if recipe.budget_epochs else ""
            raise BenchError(
                f"{p.name} rewinds {epochs} epochs{of} but the original training has only {recipe.epochs}"
            )

    if epochs > MAX_EPOCHS:  # before anything is sized by it (the LR of every step, checkpoints, estimates)
        raise BenchError(f"{p.name} trains {epochs:,} epochs here; at most {MAX_EPOCHS:,} are allowed")
    return ResolvedProtocol(
        name=p.name, version=p.version, schedule=p.schedule, epochs=int(epochs),
        warmup_fraction=p.warmup_fraction, lr_max=recipe.lr_max, lr_min=recipe.lr_min,
        reinitialize=p.reinitialize, batch_size=recipe.batch_size, momentum=recipe.momentum,
        nesterov=recipe.nesterov, weight_decay=recipe.weight_decay, recipe_epochs=recipe.epochs,
        milestones=tuple(recipe.milestones), gamma=recipe.gamma, flops_ratio=recorded_ratio,
        budget_epochs=p.epochs if p.schedule != "scratch" and recipe.budget_epochs else None,
    )


def original_schedule(recipe: Recipe, *, name: str, epochs: int = 0, lr_scale: float = 1.0) -> ResolvedProtocol:
    """The dataset's original step schedule for a pruner's own training (SFP), over `epochs` epochs
    (0: the original training's length; milestones at the same fractions of it), at `lr_scale` times
    its learning rates, with its batch size and SGD settings."""
    if epochs < 0 or not lr_scale > 0:
        raise BenchError(f"{name}: needs epochs >= 0 and a positive LR scale, got {epochs} and {lr_scale}")
    return ResolvedProtocol(
        name=name, version=1, schedule=ORIGINAL, epochs=epochs or recipe.epochs, warmup_fraction=0.0,
        lr_max=recipe.lr_max * lr_scale, lr_min=recipe.lr_min * lr_scale, reinitialize=False,
        batch_size=recipe.batch_size, momentum=recipe.momentum, nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay, recipe_epochs=recipe.epochs, milestones=tuple(recipe.milestones),
        gamma=recipe.gamma,
    )
