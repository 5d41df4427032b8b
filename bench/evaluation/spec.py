"""The run specification: every input that determines an evaluation's numbers, in one frozen value.

`RunSpec` alone produces a run's identity hash (`spec.hash`), its record's path in the submissions
layout (`spec.record_path`) and its JSON form (`spec.to_dict()` / `RunSpec.from_dict`). The CLI's
`bench evaluate` flags take their defaults from it, `bench sweep` expands a grid into specs and hands
each worker its spec as JSON, and every record carries the spec it was computed from. So "same hash ⇔
same numbers" is one function, not several that can drift apart.

What the hash covers: the adapter (name, version, every hyperparameter with defaults filled in), the
target, the layout asked for, the model, the dataset and split seed, the protocol's resolved content
(its LR, epochs and batch size against the dataset's recipe, not only its name, so that a synthesized
`clr-41` cannot silently change meaning), the seeds, the random control, the iterations, the dense
source (the user's checkpoint by SHA-256, or the dense seed, recipe and training-code version), and
the environment parts that change numbers: device type, CPU thread count, torch.compile, the memory
format the model trains in and the data-parallel world size. The CPU model and the torch version
change the last bits too (measured: one dense digits epoch ends at |w| sum 15136.10 on an AVX2 Xeon,
15129.57 on an AVX512 one, 15127.73 on the latter with AVX2 kernels forced), but they are where a
result was computed, not what was asked: the record states them (`environment`), and a run is
bitwise reproducible on the same machine type and torch version. Paths (data, runs, records), the
device index and the checkpoint cadence are not in it: they change where a result is computed, not
what it is.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from bench import defaults
from bench.core import shipped
from bench.core.config import config_hash, file_digest, to_jsonable
from bench.core.protocols import load_protocol, resolve
from bench.data import DATASETS
from bench.infra.devices import default_memory_format
from bench.errors import BenchError
from bench.evaluation.options import RUN_OPTIONS, spec_field
from bench.pruning import Target, get_adapter
from bench.pruning.interface import Adapter

# Bump when the dense training code changes its results (tests/evaluation/test_dense.py pins them):
# every dense cache entry and every run identity moves with it.
DENSE_TRAINING_VERSION = 2
# Bump when the retraining path (pruning-to-training hand-off, training loop) changes its results.
RETRAINING_VERSION = 1
# Of the JSON form below. Version 2 added `memory_format`; a version-1 spec trained in its device's
# legacy format (CPU contiguous, CUDA channels_last), which leaves its identity, and so its hash, as it was.
SPEC_VERSION = 2
# The options whose part of the identity `RunSpec.identity` words by hand (as run ids have held them
# since their first records); every other option enters it under its own name.
_WORDED_IDENTITY = frozenset({
    "adapter", "hparams", "target", "layout", "model", "dataset", "split_seed", "protocol", "seeds", "random_control",
    "allocation_control", "iterations", "dense_seed", "checkpoint", "device", "threads", "compile", "memory_format",
    "precision",  # in environment_identity: retraining runs are keyed by it too
})


@dataclass(frozen=True)
class RunSpec:
    """One `bench evaluate`: an adapter at a target, retrained under a protocol for every seed, with its
    random control. Each field says how it is asked for (`option`): the CLI's flags, the sweep's keys,
    their defaults and help are generated from here (bench/evaluation/options.py)."""

    adapter: str = spec_field("adapter")
    hparams: Any = spec_field("hparams")  # the adapter's Hparams instance; None: the paper defaults
    target: Target = spec_field("target", default=Target(ratio=defaults.RATIO))
    layout: str | None = spec_field("layout")  # None: the adapter's own (part of its version)
    model: str = spec_field("model")
    dataset: str = spec_field("dataset")
    split_seed: int = spec_field("split_seed")
    protocol: str = spec_field("protocol")  # a protocol name, or a protocol file's path
    seeds: tuple[int, ...] = spec_field("seeds")
    random_control: bool = spec_field("random_control")
    allocation_control: bool = spec_field("allocation_control")  # opt-in
    iterations: int = spec_field("iterations")
    dense_seed: int = spec_field("dense_seed")
    checkpoint: str | None = spec_field("checkpoint")  # the user's dense weights (a state dict file)
    checkpoint_sha256: str | None = None  # filled in from `checkpoint` when the spec is built
    device: str = spec_field("device")  # device type ("cpu", "cuda"); the index does not change numbers
    threads: int | None = spec_field("threads")  # CPU threads (they change the numbers on CPU); None on GPUs
    compile: bool = spec_field("compile")
    memory_format: str = spec_field("memory_format")  # of the model and its batches while training
    precision: str | None = spec_field("precision")  # of the training forward; None: the device's
    world_size: int = 1  # torchrun's, set by `specify`

    def __post_init__(self) -> None:
        if self.adapter is None:
            raise BenchError("a run needs an adapter (see `bench list adapters`)")
        cls = get_adapter(self.adapter)
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        set_("adapter", cls.name)
        if self.hparams is None:
            set_("hparams", cls.Hparams())
        elif not isinstance(self.hparams, cls.Hparams):
            raise BenchError(f"adapter {cls.name} expects {cls.Hparams.__name__} hyperparameters, got {type(self.hparams).__name__}")
        for opt in RUN_OPTIONS.values():  # each option's own check, once, whichever front end built the spec
            if opt.custom:
                continue
            try:
                set_(opt.name, opt.value(getattr(self, opt.name)))
            except BenchError as exc:
                raise BenchError(f"{opt.flag or opt.name}: {exc}") from None
        adapter = cls(self.hparams)  # the adapter's own checks of its hyperparameters, before any compute
        if adapter.needs_calibration and min(adapter.calibration_size()) < 1:
            raise BenchError(f"adapter {cls.name}: calibration batches and batch size must be positive, got {adapter.calibration_size()}")
        if adapter.needs_calibration and math.prod(adapter.calibration_size()) > defaults.MAX_CALIBRATION_IMAGES:
            raise BenchError(f"adapter {cls.name}: calibration batches × batch size must be at most "
                             f"{defaults.MAX_CALIBRATION_IMAGES:,} images")
        if self.device not in ("cpu", "cuda"):
            raise BenchError(f"a run's device type is cpu or cuda, got {self.device!r}")
        if self.device == "cpu" and self.threads is None:
            raise BenchError("a CPU run needs its thread count (it changes the numbers)")
        if self.device == "cpu" and not (isinstance(self.threads, int) and 1 <= self.threads <= defaults.MAX_THREADS):
            raise BenchError(f"--threads: between 1 and {defaults.MAX_THREADS}")
        if self.device != "cpu":
            set_("threads", None)
        if self.checkpoint is not None and self.checkpoint_sha256 is None:
            if Path(self.checkpoint).exists() and not Path(self.checkpoint).is_file():  # e.g. /dev/zero: hashing it never ends
                raise BenchError(f"checkpoint {self.checkpoint} is not a regular file")
            try:
                set_("checkpoint_sha256", file_digest(Path(self.checkpoint)))
            except FileNotFoundError:
                raise BenchError(f"checkpoint {self.checkpoint} does not exist") from None
            except OSError as exc:
                raise BenchError(f"cannot read checkpoint {self.checkpoint}: {exc.strerror or exc}") from None
        if self.random_control and (cls.name == "random" or cls.from_scratch):
            # random pruning is its own control; a from-scratch architecture's control would be the
            # same architecture from another init
            set_("random_control", False)
            set_("allocation_control", False)
        if self.allocation_control and cls.kind != "structured":
            raise BenchError("--allocation-control matches FLOPs by channel widths: it applies to structured adapters only")
        if self.allocation_control and self.iterations > 1:
            raise BenchError("--allocation-control applies to one-shot pruning; --iterations does not apply to it")
        if self.target.speedup is not None and self.iterations > 1:
            raise BenchError("a --speedup target prunes in one step; --iterations does not apply to it")
        if cls.from_scratch and not self.resolved_protocol.reinitialize:
            raise BenchError(
                f"{cls.name} is an architecture trained from scratch and needs a protocol that reinitializes "
                f"(scratch-e, scratch-b), not {self.resolved_protocol.name}"
            )

    # --- what it is -------------------------------------------------------------------------------

    @property
    def adapter_cls(self) -> type[Adapter]:
        return get_adapter(self.adapter)

    def make_adapter(self) -> Adapter:
        return self.adapter_cls(self.hparams)

    @property
    def prunes_in_a_layout(self) -> bool:
        """Whether a layout decides the pruned network (structured pruning, or a compress-rate list): the
        record states the layout then, and only then."""
        return self.adapter_cls.kind == "structured" or self.target.compress_rate is not None

    @cached_property
    def resolved_protocol(self):
        return resolve_protocol(self.protocol, self.dataset)

    def dense_identity(self) -> dict:
        """What determines the dense baseline the pruning starts from."""
        if self.checkpoint_sha256 is not None:
            return {"checkpoint_sha256": self.checkpoint_sha256}
        return {"seed": self.dense_seed, "training_version": DENSE_TRAINING_VERSION, "recipe": to_jsonable(DATASETS.get(self.dataset).recipe)}

    def environment_identity(self) -> dict:
        """The parts of where a run executes that change its numbers. The memory format is named only
        where it is not the device's legacy one, so that runs from before it was a choice keep their ids."""
        env = {"device": self.device, "threads": self.threads, "compile": self.compile, "world_size": self.world_size}
        if self.memory_format != default_memory_format(self.device):
            env["memory_format"] = self.memory_format
        if self.precision is not None:  # named only when chosen: runs in the device's precision keep their ids
            env["precision"] = self.precision
        return env

    def identity(self) -> dict:
        return {
            "adapter": {"name": self.adapter, "version": self.adapter_cls.version, "hparams": to_jsonable(self.hparams)},
            "target": self.target.to_dict(),
            "layout": self.layout,
            "model": self.model,
            "dataset": {"name": self.dataset, "split_seed": self.split_seed},
            "protocol": self.resolved_protocol.to_dict(),
            "seeds": list(self.seeds),
            "random_control": self.random_control,
            **({"allocation_control": True} if self.allocation_control else {}),  # named only when asked: earlier ids stay
            "iterations": self.iterations,
            "dense": self.dense_identity(),
            "retraining_version": RETRAINING_VERSION,
            "environment": self.environment_identity(),
            # Options added since: named only when not at their default, so that earlier run ids stay.
            **{name: to_jsonable(getattr(self, name)) for name in RUN_OPTIONS
               if name not in _WORDED_IDENTITY and getattr(self, name) != RUN_OPTIONS[name].default},
        }

    @cached_property
    def hash(self) -> str:
        return config_hash(self.identity())

    # --- where its record goes --------------------------------------------------------------------

    @property
    def target_tag(self) -> str:
        t = self.target
        if t.speedup is not None:
            return f"speedup{t.speedup:g}"
        if t.ratio is not None:
            return f"ratio{t.ratio:g}"
        if t.config is not None:
            return f"config-{t.config}"
        return "cr-" + config_hash(list(t.compress_rate), 6)

    @property
    def record_path(self) -> str:
        """The record's path relative to a records folder (the submissions layout), named by the hash."""
        name = "_".join(slug(p)[:60] for p in (self.adapter, self.target_tag, self.resolved_protocol.name, self.hash))
        return f"{slug(self.dataset)[:60]}/{slug(self.model)[:60]}/{name}.json"  # bounded: 255-byte file names

    @property
    def label(self) -> str:
        hp = "".join(f" {k}={v}" for k, v in to_jsonable(self.hparams).items() if v != getattr(self.adapter_cls.Hparams(), k))
        layout = f" layout={self.layout}" if self.layout else ""
        return f"{self.adapter} {self.target_tag}{hp}{layout} {self.model}/{self.dataset} {self.resolved_protocol.name}"

    # --- JSON form --------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        out = to_jsonable({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        out["target"] = self.target.to_dict()
        if (copy := shipped.by_sha256(self.checkpoint_sha256)) is not None:
            out["checkpoint"] = copy.repository_path  # not this machine's path: any checkout finds it
        return {"spec_version": SPEC_VERSION, **out}

    @classmethod
    def from_dict(cls, data: dict, check_checkpoint: bool = True) -> RunSpec:
        """The inverse of `to_dict`; a checkpoint whose bytes changed since is an error (unless not
        `check_checkpoint`: a record read elsewhere, whose weights are not at hand)."""
        data = dict(data)
        version = data.pop("spec_version", None)
        if version not in (1, SPEC_VERSION):
            raise BenchError(f"unsupported run specification version (this prunebench reads versions 1 to {SPEC_VERSION})")
        if version == 1:  # before the memory format was a choice: the device's legacy one
            data["memory_format"] = default_memory_format(data.get("device", "cpu"))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BenchError(f"unknown run specification field(s): {', '.join(unknown)}")
        adapter_cls = get_adapter(data["adapter"])
        data["hparams"] = hparams_from_dict(adapter_cls, data.get("hparams") or {})
        data["target"] = Target.from_dict(data.get("target") or {"ratio": defaults.RATIO})
        data["seeds"] = tuple(data.get("seeds", defaults.SEEDS))
        if not check_checkpoint and data.get("checkpoint_sha256"):
            return cls(**data)  # the path is only informative then: the digest is the identity
        copy = shipped.by_sha256(data.get("checkpoint_sha256"))
        if copy is not None and data.get("checkpoint") == copy.repository_path:
            data["checkpoint"] = str(copy.path)  # a shipped checkpoint, wherever this installation keeps it
        spec = cls(**data)
        if spec.checkpoint is not None:
            on_disk = file_digest(Path(spec.checkpoint)) if Path(spec.checkpoint).is_file() else None
            if on_disk != spec.checkpoint_sha256:
                raise BenchError(f"checkpoint {spec.checkpoint} is not the file this run was specified with (SHA-256 differs)")
        return spec


def resolve_protocol(protocol: str, dataset: str):
    """A protocol bound to a dataset's recipe, as a spec holds it (Scratch-B at the dense FLOPs: its epochs
    follow from the pruned network, which the rest of the spec determines)."""
    loaded = load_protocol(protocol)
    return resolve(loaded, DATASETS.get(dataset).recipe, flops_ratio=1.0 if loaded.budget == "flops" else None)


def hparams_from_dict(adapter_cls: type[Adapter], values: dict) -> object:
    """An adapter's Hparams from their JSON form (lists back to tuples where the default is one)."""
    fields = {f.name: f for f in dataclasses.fields(adapter_cls.Hparams)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise BenchError(f"adapter {adapter_cls.name} has no hyperparameter(s) {', '.join(unknown)}")
    typed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return adapter_cls.Hparams(**typed)


def slug(text: str) -> str:
    """A file-name-safe form of a name taken from user input or a record (no separators, no dots first)."""
    out = re.sub(r"[^A-Za-z0-9.-]", "-", text)
    return "-" + out[1:] if out.startswith(".") else out
