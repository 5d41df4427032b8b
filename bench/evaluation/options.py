"""How each field of a run's specification is asked for, written once, in a table beside RunSpec.

`RUN_OPTIONS` holds one `Option` per user-set field of `RunSpec`, which its fields carry as metadata
(`spec_field`): the default, the `bench evaluate` flag, the sweep file's key, the types a TOML value
may have, how a command-line or TOML value becomes the field's value, and the help. The CLI generates
its flags from it (bench/ui/spec_flags.py) and the sweep its keys and their checks
(bench/sweep/grid.py), as open_lth's typed hyperparameters generate their flags; RunSpec checks the
values it is built with, once, whichever front end built it. So an option added here exists in every
front end, with its help, and in the run's identity (docs/architecture.md has a worked example).

Fields whose value is not one flag or key (the adapter and its hyperparameters, the target, the dense
checkpoint, the device and thread count) carry an Option too, marked `custom`: the front ends word
their help from it and handle their values themselves.

This module imports neither torch nor the spec, so that `bench --help` builds its flags in a blink.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from bench import defaults
from bench.errors import BenchError

_KIND_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class Option:
    help: str
    default: Any = None
    flag: str | None = None  # `bench evaluate`'s flag; None: not one
    key: str | None = None  # the sweep file's key (top level); None: not one
    kinds: tuple[type, ...] = (str,)  # what a TOML value may be (true/false is never a number)
    convert: Callable[[Any], Any] | None = None  # CLI text or TOML value → the field's value; BenchError if it cannot
    axis: bool = False  # in a sweep file, a value or a list of values, each a run (`models = [...]`)
    entry: bool = False  # an [[adapters]] entry may set it for itself (under the same key)
    path: bool = False  # a file path: in a sweep file relative to the file
    choices: tuple[str, ...] | None = None
    negated: bool = False  # a flag that turns a default-true field off (--no-random-control)
    metavar: str | None = None
    group: str | None = None  # the `bench evaluate --help` section ("data", "training")
    custom: bool = False  # the front ends convert it themselves (see the module's docstring)
    noun: str | None = None  # the value in words where its type says too little ("a protocol name")
    name: str = ""  # the RunSpec field it describes

    @property
    def what(self) -> str:
        """The value in words, for errors: "an integer", "a protocol name"."""
        if self.noun:
            return self.noun
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        return _KIND_WORDS.get(self.kinds[0], self.kinds[0].__name__)

    def value(self, raw: Any) -> Any:
        """The field's value from a command-line string or a TOML value already of one of `kinds`."""
        if raw is None and self.default is None:
            return None  # not set: the default that means "decided elsewhere" (the adapter's layout, ...)
        if self.choices and raw not in self.choices:
            raise BenchError(f"must be one of {', '.join(self.choices)}, got {raw!r}")
        return self.convert(raw) if self.convert else raw


def spec_field(name: str, **overrides: Any) -> Any:
    """RunSpec's field `name`: its default and, as metadata, its option."""
    opt = RUN_OPTIONS[name]
    default = overrides.get("default", opt.default)
    return dataclasses.field(default=default, metadata={"option": opt})


def flagged(names: Iterable[str] | None = None) -> list[Option]:
    """The options with a command-line flag (of the fields `names`; default all), in field order."""
    wanted = None if names is None else set(names)
    return [o for o in RUN_OPTIONS.values() if o.flag and (wanted is None or o.name in wanted)]


def keyed() -> list[Option]:
    """The options a sweep file sets by key, in field order."""
    return [o for o in RUN_OPTIONS.values() if o.key]


# --- conversions shared by the command line and sweep files ---------------------------------------


def seeds(value: int | str | list) -> tuple[int, ...]:
    """`3` → (0, 1, 2); `"0,5,7"` or [7, 0, 5] → (0, 5, 7): a count or distinct non-negative seeds."""
    if isinstance(value, str):
        if value.count(",") >= defaults.MAX_SEEDS:  # before the list is built
            raise BenchError(f"at most {defaults.MAX_SEEDS} seeds")
        try:
            value = [int(s) for s in value.split(",")] if "," in value else int(value)
        except ValueError:
            raise BenchError(f"{value[:40]!r} is not a seed count or a comma-separated seed list") from None
    if isinstance(value, int):
        if value > defaults.MAX_SEEDS:  # before the seeds are listed
            raise BenchError(f"at most {defaults.MAX_SEEDS} seeds, got {value}")
        if value < 1:
            raise BenchError(f"need at least one seed, got {value}")
        return tuple(range(value))
    if len(value) > defaults.MAX_SEEDS:
        raise BenchError(f"at most {defaults.MAX_SEEDS} seeds, got {len(value)}")
    if not value or not all(isinstance(s, int) and not isinstance(s, bool) for s in value) or min(value) < 0 \
            or len(set(value)) != len(value):
        raise BenchError(f"need distinct non-negative integers, got {list(value)}")
    return tuple(sorted(value))


def integer(text: int | str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BenchError(f"{str(text)[:40]!r} is not an integer") from None


def seed(value: int | str) -> int:
    """A seed of a split or a dense training: checked here, not after a baseline has trained."""
    value = integer(value)
    if not 0 <= value < 2**63:
        raise BenchError(f"must be a non-negative integer below 2^63, got {value}")
    return value


def positive(value: int | str) -> int:
    value = integer(value)
    if value < 1:
        raise BenchError(f"must be >= 1, got {value}")
    return value


def iterations(value: int | str) -> int:
    value = positive(value)
    if value > defaults.MAX_ITERATIONS:
        raise BenchError(f"at most {defaults.MAX_ITERATIONS} pruning steps, got {value}")
    return value


def canonical_model(name: str) -> str:
    """A built-in model's registered spelling (`ResNet_20` → resnet20); other names as given (checked
    where the model is built)."""
    from bench.infra.registry import normalize  # lazy: bench.models imports torch
    from bench.models import MODELS  # lazy: torch

    return normalize(name) if name in MODELS else name


def canonical_dataset(name: str) -> str:
    from bench.data import DATASETS  # lazy: torch

    return DATASETS.get(name).name



def _option(name: str, help: str, default: Any = None, **kwargs: Any) -> tuple[str, Option]:
    return name, Option(help, default, name=name, **kwargs)


# Every field of RunSpec a user sets, in its order. A new option is one line here and one field there.
RUN_OPTIONS: dict[str, Option] = dict([
    _option("adapter", "pruning method (see `bench list adapters`)", flag="--adapter", key="name", custom=True),
    _option("hparams", "adapter hyperparameter (repeatable); default: the paper's", flag="--hp", key="hp", custom=True),
    _option("target", "how much to prune: one of --ratio, --speedup, --compress-rate, --config", flag="--ratio",
            custom=True),
    _option("layout", "where to prune: a layout the model offers (CIFAR ResNets: hrankplus, block-internal, "
            "full-width, stage-coupled; default: the adapter's own, from its reference code)",
            flag="--layout", key="layouts", axis=True, entry=True, metavar="NAME", noun="a layout name"),
    _option("model", "model name (see `bench list models`)", defaults.MODEL,
            flag="--model", key="models", axis=True, entry=True, convert=canonical_model, noun="a model name"),
    _option("dataset", "digits (offline), cifar10, cifar100, imagenet", defaults.DATASET,
            flag="--dataset", key="datasets", axis=True, entry=True, convert=canonical_dataset, group="data",
            noun="a dataset name"),
    _option("split_seed", "seed of the fixed 90/10 train/val split", defaults.SPLIT_SEED,
            flag="--split-seed", key="split_seed", kinds=(int,), convert=seed, group="data"),
    _option("protocol", "retraining protocol, or a protocol file (see `bench list protocols`)", defaults.PROTOCOL,
            flag="--protocol", key="protocols", axis=True, entry=True, path=True, noun="a protocol name"),
    _option("seeds", "seed count or list: 3 means 0,1,2", defaults.SEEDS,
            flag="--seeds", key="seeds", kinds=(int, list), convert=seeds, noun="a seed count or a list of seeds"),
    _option("random_control", "skip the random-pruning control", defaults.RANDOM_CONTROL,
            flag="--no-random-control", negated=True, key="random_control", kinds=(bool,)),
    _option("allocation_control", "also train uniform random pruning in the method's layout at the method's FLOPs, "
            "which isolates its per-layer allocation (trained once with the random control where the two are the "
            "same network)", False, flag="--allocation-control", key="allocation_control", kinds=(bool,), entry=True),
    _option("iterations", "prune to the target in K equal steps, retraining under the protocol after each "
            "(1: one-shot)", defaults.ITERATIONS, flag="--iterations", key="iterations", kinds=(int,),
            convert=iterations, metavar="K"),
    _option("dense_seed", "seed of the dense baseline training", defaults.DENSE_SEED,
            flag="--dense-seed", key="dense_seed", kinds=(int,), convert=seed),
    _option("checkpoint", "start from your own dense weights (a state dict) instead of training",
            flag="--checkpoint", key="checkpoint", entry=True, path=True, custom=True),
    _option("device", "auto (default), cpu, cuda, cuda:N", "cpu", flag="--device", key="device", custom=True,
            group="data"),
    _option("threads", "CPU threads (default: every core this process may use); part of the run's identity on CPU",
            flag="--threads", key="threads", kinds=(int,), metavar="N", custom=True),
    _option("compile", "train through torch.compile (slow to start; changes the numbers, so cached apart)", False,
            flag="--compile", key="compile", kinds=(bool,), group="training"),
    _option("memory_format", "layout of the model and its batches while training (channels_last: faster on CPU "
            "and GPU; contiguous is how CPU runs trained before, e.g. the reference records)", defaults.MEMORY_FORMAT,
            flag="--memory-format", key="memory_format", choices=defaults.MEMORY_FORMATS, group="training"),
    _option("precision", "the training forward's precision (default: the device's, bf16 on CUDA and fp32 on CPU)",
            flag="--precision", key="precision", choices=defaults.PRECISIONS, group="training"),
])
