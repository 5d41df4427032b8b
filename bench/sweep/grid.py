"""Sweep files: parse a TOML grid, validate every entry, expand it into runs identified by a hash.

Everything is checked before anything runs (names, keys, types, hyperparameters, targets against
their models, checkpoints against their models), because a typo found after three hours of a
sweep is a typo found too late. Each problem is one line naming the file and the entry.

Each run is a `RunSpec` (bench/evaluation/spec.py), the same value `bench evaluate` builds from its
flags: its hash names the run's record file (which is what makes a sweep idempotent, and what lets a
sweep and `bench evaluate` find each other's records) and covers everything that determines the
numbers, the CPU thread count included. The thread count is the grid's `threads` key if it sets one,
else the sweep's (cores // jobs); where the data lives and which executor runs it are not in it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from bench import defaults
from bench.core.config import config_hash, file_digest
from bench.data import DATASETS
from bench.errors import BenchError
from bench.evaluation.options import Option, canonical_model, keyed
from bench.evaluation.preflight import Preflight
from bench.evaluation.runs import soft_schedule
from bench.evaluation.spec import RunSpec, resolve_protocol
from bench.infra import toml_files
from bench.infra.environment import default_threads
from bench.pruning import get_adapter, parse_hparams
from bench.pruning.targets import Target, parse_compress_rate

# A sweep file's keys are RunSpec's options' (bench/evaluation/options.py), plus where the data lives
# and the adapters. Those an [[adapters]] entry may set for itself are the options marked `entry`,
# plus its name, hyperparameters and targets (a list of each kind: every one is a run).
_PER_ENTRY_ONLY = ("adapter", "hparams")
TARGET_KEYS = ("ratios", "speedups", "compress_rates", "configs")
GRID_KEYS = tuple(o.key for o in keyed() if o.name not in _PER_ENTRY_ONLY) + ("data_root", "adapters")
ADAPTER_KEYS = ("name", "hp", *TARGET_KEYS) + tuple(o.key for o in keyed() if o.entry)
# A sweep file expands to at most this many runs (each is hours of compute): checked before any is built.
MAX_RUNS = 10_000
# The options every run of a grid shares: the executor and the thread sizing read them from the grid.
_GRID_WIDE = ("device", "threads")


@dataclass(frozen=True)
class Run:
    """One `bench evaluate`: all the grid's seeds plus the random control, giving one record."""

    spec: RunSpec
    hp: tuple[str, ...]  # KEY=VALUE, exactly as `bench evaluate --hp` takes them
    epochs: int  # retraining epochs of one (arm, seed)
    epochs_exact: bool  # False for FLOPs-budgeted protocols (scratch-b): known only after pruning
    batch_size: int
    soft_epochs: int = 0  # the method's soft pruning before the protocol, per seed (SFP); shared across protocols

    hash = property(lambda self: self.spec.hash)
    record = property(lambda self: self.spec.record_path)  # inside the output folder: the submissions layout
    adapter = property(lambda self: self.spec.adapter)
    target = property(lambda self: self.spec.target)
    target_tag = property(lambda self: self.spec.target_tag)
    model = property(lambda self: self.spec.model)
    dataset = property(lambda self: self.spec.dataset)
    seeds = property(lambda self: self.spec.seeds)
    layout = property(lambda self: self.spec.layout)
    protocol_name = property(lambda self: self.spec.resolved_protocol.name)

    @property
    def arms(self) -> int:
        """Arms trained per seed. An allocation control is counted where it can differ from the random
        control (a global allocation, or per-layer rates); elsewhere it is the random control's network."""
        s = self.spec
        allocation = s.allocation_control and (s.adapter_cls.allocation == "global" or s.target.compress_rate is not None
                                               or s.target.config is not None)
        return 1 + int(s.random_control) + int(allocation)

    @property
    def config(self) -> dict:
        """What the hash covers."""
        return self.spec.identity()

    @property
    def label(self) -> str:
        hp = f" {' '.join(self.hp)}" if self.hp else ""
        layout = f" layout={self.layout}" if self.layout else ""
        return f"{self.adapter} {self.target_tag}{hp}{layout} {self.model}/{self.dataset} {self.protocol_name}"

    @property
    def soft_key(self) -> str | None:
        """What this run's soft pruning depends on (None: it has none): everything but the protocol, so
        the runs of one method, target and seeds under several protocols share it."""
        if not self.soft_epochs:
            return None
        return config_hash({k: v for k, v in self.config.items() if k not in ("protocol", "random_control")})

    @property
    def train_epochs(self) -> int:
        """Training epochs of the whole run: seeds × (arms × protocol epochs + soft-pruning epochs); at
        most, since runs of other protocols may already have trained the soft pruning."""
        return len(self.seeds) * (self.arms * self.epochs + self.soft_epochs)


@dataclass(frozen=True)
class Grid:
    path: Path
    runs: tuple[Run, ...]
    checkpoints: dict[str, Path]  # model → dense weights; a model without one trains (or reuses) its baseline
    data_root: Path | None
    dense_seed: int
    split_seed: int
    device: str
    random_control: bool
    duplicates: int  # grid points that expanded to an already listed run
    threads: int | None = None  # the grid's own `threads`; None: the sweep sizes them

    def epochs_to_do(self, done: set[str]) -> dict[str, int]:
        """Training epochs of each run not in `done`, by run hash, counting a soft pruning shared by
        several runs once (and not at all where a finished run already trained it)."""
        trained = {r.soft_key for r in self.runs if r.hash in done}
        out = {}
        for r in self.runs:
            if r.hash in done:
                continue
            out[r.hash] = len(r.seeds) * r.arms * r.epochs
            if r.soft_key is not None and r.soft_key not in trained:
                out[r.hash] += len(r.seeds) * r.soft_epochs
                trained.add(r.soft_key)
        return out

    def checkpoint_for(self, model: str) -> Path | None:
        return self.checkpoints.get(model)

    def with_threads(self, threads: int) -> Grid:
        """The same runs with `threads` CPU threads each (which changes their identity); a grid that
        fixes its own thread count keeps it."""
        if self.threads is not None or self.device_type != "cpu":
            return self
        runs = {}
        for r in self.runs:
            bound = replace(r, spec=replace(r.spec, threads=threads))
            runs.setdefault(bound.hash, bound)
        return replace(self, runs=tuple(runs.values()))

    @property
    def device_type(self) -> str:
        return self.runs[0].spec.device if self.runs else "cpu"


def load_grid(path: str | Path) -> Grid:
    path = Path(path)
    return _parse(toml_files.read(path, "sweep file"), path)


def parse_grid(text: str, *, source: str | Path = "<grid>") -> Grid:
    return _parse(toml_files.parse(text, source=str(source)), Path(source))


def _parse(data: dict, source: Path) -> Grid:
    # Validation runs a few forward passes of single images: one thread is plenty, and on a busy
    # machine more threads mostly wait for each other (3 s instead of 11 s for the CIFAR example).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _Expander(source, data).grid()
    finally:
        torch.set_num_threads(threads)


class _Expander:
    """Validation and expansion share one pass, so every error can name the entry it came from."""

    def __init__(self, source: Path, data: dict[str, Any]):
        self.default_threads = default_threads()  # until the sweep sizes its runs (Grid.with_threads)
        self.source = source
        self.base = source.resolve().parent  # relative paths in the file are relative to the file
        self.data = data
        self.preflight = Preflight()  # the checks `bench evaluate` runs, on every run before the first starts
        self._epochs: dict[tuple[str, str], tuple] = {}
        self._digests: dict[Path, str] = {}

    def fail(self, where: str, message: str) -> BenchError:
        return BenchError(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")

    # --- values ---------------------------------------------------------------------------------

    def _list(self, value: Any, key: str, where: str, kinds: tuple[type, ...], what: str) -> list:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise self.fail(where, f"{key} is empty")
        for item in items:
            if not toml_files.is_kind(item, kinds):
                raise self.fail(where, f"{key} must be {what} or a list of them, got {item!r}")
        return items

    def _path(self, text: str) -> Path:
        return (self.base / Path(text).expanduser()).resolve()

    def _option(self, opt: Option, table: dict, where: str, inherited: list) -> list:
        """The values an option takes in `table` (else `inherited`), converted and checked: a list of
        them for an axis (each value a run), else a list of one."""
        if opt.key not in table:
            return inherited
        raw = table[opt.key]
        if opt.axis:
            items = self._list(raw, opt.key, where, opt.kinds, opt.what)
        elif toml_files.is_kind(raw, opt.kinds):
            items = [raw]
        else:
            raise self.fail(where, f"{opt.key} must be {opt.what}, got {raw!r}")
        out = []
        for item in items:
            if opt.path and isinstance(item, str) and ("/" in item or Path(item).suffix):
                item = str(self._path(item))  # a file named in the sweep file is relative to it
            try:
                out.append(opt.value(item))
            except BenchError as exc:
                raise self.fail(where, f"{opt.key}: {exc}") from None
        return out

    def _device(self, name: str) -> str:
        """The device type the runs are specified for: `auto` is this machine's (set `device` for a
        cluster whose nodes differ from it). Syntax only otherwise: a sweep may run where there are
        GPUs even if this machine has none."""
        if name == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        try:
            device = torch.device(name)
        except RuntimeError:
            raise self.fail("", f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
        if device.type not in ("cpu", "cuda"):
            raise self.fail("", f"unsupported device {name!r} (use auto, cpu, cuda or cuda:N)")
        return device.type

    def _checkpoints(self, table: dict, where: str, models: list[str]) -> dict[str, Path]:
        """`checkpoint = "w.pt"` (every model) or, at the top level, `[checkpoint] resnet20 = "w.pt"`."""
        value = table.get("checkpoint")
        if value is None:
            return {}
        if isinstance(value, str):
            paths = {m: self._path(value) for m in models}
        elif isinstance(value, dict) and table is self.data:
            for model, p in value.items():
                if not isinstance(p, str):
                    raise self.fail("checkpoint", f"{model} must map to a file path, got {p!r}")
            paths = {canonical_model(m): self._path(p) for m, p in value.items()}
        else:
            what = "a file path or a table of model = path" if table is self.data else "a file path"
            raise self.fail(where, f"checkpoint must be {what}, got {value!r}")
        for path in paths.values():
            if not path.is_file():
                raise self.fail(where or "checkpoint", f"checkpoint {path} does not exist")
        return paths

    def _targets(self, entry: dict, where: str) -> list[Target]:
        kinds = {"ratios": ((int, float), "a number", lambda v: Target(ratio=float(v))),
                 "speedups": ((int, float), "a number", lambda v: Target(speedup=float(v))),
                 "compress_rates": ((str,), "a string", lambda v: Target(compress_rate=parse_compress_rate(v))),
                 "configs": ((str,), "a string", lambda v: Target(config=v))}
        targets: list[Target] = []
        try:
            for key in TARGET_KEYS:
                if key in entry:
                    kind, what, make = kinds[key]
                    targets += [make(v) for v in self._list(entry[key], key, where, kind, what)]
        except BenchError as exc:
            raise self.fail(where, str(exc)) from None
        return targets or [Target(ratio=defaults.RATIO)]

    def _hp_grid(self, adapter_cls, value: Any, where: str) -> list[tuple[tuple[str, ...], object]]:
        """Every combination of the listed values: [(("k=v", ...), Hparams), ...]."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise self.fail(where, f"hp must be a table of name = value (or = [values]), got {value!r}")
        axes = []
        for key, values in value.items():
            items = self._list(values, f"hp.{key}", where, (bool, int, float, str), "a number, string or boolean")
            axes.append([f"{key}={_hp_text(v)}" for v in items])
        out = []
        for combo in itertools.product(*axes):
            try:
                out.append((tuple(combo), parse_hparams(adapter_cls, list(combo))))
            except BenchError as exc:
                raise self.fail(where, str(exc)) from None
        return out

    # --- expansion ------------------------------------------------------------------------------

    def grid(self) -> Grid:
        toml_files.check_keys(self.data, GRID_KEYS, lambda msg: self.fail("", msg))
        generic = [o for o in keyed() if not o.custom]
        top = {o.name: self._option(o, self.data, "", [o.default]) for o in generic}
        device = self.data.get("device", "auto")
        if not isinstance(device, str):
            raise self.fail("", f"device must be a device name (auto, cpu, cuda, cuda:N), got {device!r}")
        device_type = self._device(device)
        threads = self.data.get("threads")
        if threads is not None and not (toml_files.is_kind(threads, int) and threads >= 1):
            raise self.fail("", f"threads must be a thread count of at least 1, got {threads!r}")
        data_root = self.data.get("data_root")
        if data_root is not None and not isinstance(data_root, str):
            raise self.fail("", f"data_root must be a folder path, got {data_root!r}")
        entries = self.data.get("adapters")
        if not entries:
            raise self.fail("", "no [[adapters]] entries: add at least one, e.g. [[adapters]] name = \"l1-norm\"")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self.fail("", "adapters must be an array of tables ([[adapters]] ... )")
        for protocol, dataset in itertools.product(top["protocol"], top["dataset"]):  # a bad top-level protocol named as such
            self._protocol_epochs(protocol, dataset, "protocols")
        checkpoints = self._checkpoints(self.data, "", top["model"])

        runs: dict[str, Run] = {}
        duplicates = planned = 0
        common = {"device": device_type, "threads": (threads or self.default_threads) if device_type == "cpu" else None}
        for i, entry in enumerate(entries):
            name = entry.get("name")
            where = f"adapters[{i}]" + (f" ({name})" if isinstance(name, str) else "")
            toml_files.check_keys(entry, ADAPTER_KEYS, lambda msg: self.fail(where, msg))
            if not isinstance(name, str):
                raise self.fail(where, "needs name = \"<adapter>\" (see `bench list adapters`)")
            try:
                cls = get_adapter(name)
            except BenchError as exc:
                raise self.fail(where, str(exc)) from None
            values = {o.name: self._option(o, entry, where, top[o.name]) if o.entry else top[o.name] for o in generic}
            if cls.kind != "structured" or cls.name == "random":  # a grid-wide allocation control is for the methods it applies to
                values["allocation_control"] = [False]
            own = self._checkpoints(entry, where, values["model"])
            targets = self._targets(entry, where)
            hps = self._hp_grid(cls, entry.get("hp"), where)
            names = list(values)
            planned += len(targets) * len(hps) * math.prod(len(v) for v in values.values())
            if planned > MAX_RUNS:
                raise self.fail(where, f"the grid expands to more than {MAX_RUNS:,} runs; split it into several sweep files")
            for target, (hp_text, hparams), combo in itertools.product(targets, hps, itertools.product(*values.values())):
                fields = dict(zip(names, combo))
                weights = own.get(fields["model"]) or checkpoints.get(fields["model"])
                try:
                    spec = RunSpec(
                        adapter=cls.name, hparams=hparams, target=target, **fields, **common,
                        checkpoint=str(weights) if weights else None,
                        checkpoint_sha256=self._digest(weights) if weights else None,
                    )
                    self.preflight.check(spec)
                except BenchError as exc:
                    raise self.fail(where, str(exc)) from None
                if spec.hash in runs:
                    duplicates += 1
                    continue
                epochs, exact, batch_size = self._protocol_epochs(spec.protocol, spec.dataset, where)
                runs[spec.hash] = Run(spec=spec, hp=hp_text, epochs=epochs, epochs_exact=exact, batch_size=batch_size,
                                      soft_epochs=_soft_epochs(spec))
        return Grid(
            path=self.source,
            runs=tuple(runs.values()),
            checkpoints=checkpoints,
            data_root=self._path(data_root) if data_root is not None else None,
            dense_seed=top["dense_seed"][0],
            split_seed=top["split_seed"][0],
            device=device,
            random_control=top["random_control"][0],
            duplicates=duplicates,
            threads=threads,
        )

    def _protocol_epochs(self, protocol: str, dataset: str, where: str) -> tuple[int, bool, int]:
        """A protocol's epochs on a dataset (exact unless FLOPs-budgeted) and its batch size."""
        key = (protocol, dataset)
        if key not in self._epochs:
            try:
                resolved = resolve_protocol(protocol, dataset)
            except BenchError as exc:
                raise self.fail(where, str(exc)) from None
            self._epochs[key] = (resolved.epochs, resolved.flops_ratio is None, resolved.batch_size)
        return self._epochs[key]

    def _digest(self, path: Path) -> str:
        if path not in self._digests:
            self._digests[path] = file_digest(path)
        return self._digests[path]


def _hp_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


def _soft_epochs(spec: RunSpec) -> int:
    """Epochs of the adapter's soft pruning per seed on the spec's dataset (0: it has none)."""
    schedule = soft_schedule(spec.make_adapter(), DATASETS.get(spec.dataset).recipe)
    return schedule.epochs if schedule else 0
