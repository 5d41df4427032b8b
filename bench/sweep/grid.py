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
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import defaults
from bench.core.config import config_hash, file_digest
from bench.errors import BenchError, did_you_mean
from bench.evaluation.spec import RunSpec
from bench.pruning.targets import Target, parse_compress_rate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

GRID_KEYS = (
    "models", "datasets", "protocols", "seeds", "random_control", "allocation_control", "checkpoint", "data_root",
    "dense_seed", "split_seed", "device", "threads", "memory_format", "adapters",
)
ADAPTER_KEYS = (
    "name", "ratios", "speedups", "compress_rates", "configs", "hp", "layouts", "models", "datasets", "protocols",
    "checkpoint", "allocation_control",
)


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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(f"sweep file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read sweep file {path}: {exc}") from None
    return parse_grid(text, source=path)


def parse_grid(text: str, *, source: str | Path = "<grid>") -> Grid:
    source = Path(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{source}: not valid TOML: {exc}") from None
    import torch

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
        from bench.infra.environment import default_threads

        self.default_threads = default_threads()  # until the sweep sizes its runs (Grid.with_threads)
        self.source = source
        self.base = source.resolve().parent  # relative paths in the file are relative to the file
        self.data = data
        self._models: dict[tuple[str, str], Any] = {}
        self._checked: set[tuple] = set()

    def fail(self, where: str, message: str) -> BenchError:
        return BenchError(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")

    # --- values ---------------------------------------------------------------------------------

    def _keys(self, table: dict, allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f" (known keys: {', '.join(allowed)})"
                raise self.fail(where, f"unknown key {key!r}{hint}")

    def _list(self, value: Any, key: str, where: str, kinds: tuple[type, ...], what: str) -> list:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise self.fail(where, f"{key} is empty")
        for item in items:
            if isinstance(item, bool) and bool not in kinds or not isinstance(item, kinds):
                raise self.fail(where, f"{key} must be {what} or a list of them, got {item!r}")
        return items

    def _scalar(self, key: str, kinds: tuple[type, ...], default: Any, what: str) -> Any:
        value = self.data.get(key, default)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise self.fail("", f"{key} must be {what}, got {value!r}")
        return value

    def _path(self, text: str) -> Path:
        return (self.base / Path(text).expanduser()).resolve()

    def _seeds(self) -> tuple[int, ...]:
        value = self.data.get("seeds", len(defaults.SEEDS))
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= defaults.MAX_SEEDS:
                raise self.fail("", f"seeds: need 1 to {defaults.MAX_SEEDS} seeds, got {value}")
            return tuple(range(value))
        seeds = self._list(value, "seeds", "", (int,), "a seed count or a non-negative integer")
        if min(seeds) < 0 or len(set(seeds)) != len(seeds):
            raise self.fail("", f"seeds: need distinct non-negative integers, got {seeds}")
        return tuple(sorted(seeds))

    def _checkpoint_spec(self) -> str | dict[str, Path] | None:
        """`checkpoint = "w.pt"` (every model) or `[checkpoint] resnet20 = "w.pt"` (per model)."""
        value = self.data.get("checkpoint")
        if value is None:
            return None
        if isinstance(value, str):
            full = self._path(value)
            if not full.is_file():
                raise self.fail("", f"checkpoint {full} does not exist")
            return str(full)
        if not isinstance(value, dict):
            raise self.fail("", f"checkpoint must be a file path or a table of model = path, got {value!r}")
        out = {}
        for model, p in value.items():
            if not isinstance(p, str):
                raise self.fail("checkpoint", f"{model} must map to a file path, got {p!r}")
            full = self._path(p)
            if not full.is_file():
                raise self.fail("checkpoint", f"{model}: {full} does not exist")
            out[self._model_name(model)] = full
        return out

    def _checkpoint(self, spec: str | dict[str, Path] | None, model: str) -> Path | None:
        if isinstance(spec, str):
            return Path(spec)
        return spec.get(model) if spec else None

    # --- names ----------------------------------------------------------------------------------

    def _model(self, name: str, dataset: str, where: str):
        import torch

        from bench import api
        from bench.data import DATASETS

        key = (name, dataset)
        if key not in self._models:
            try:
                self._models[key] = api.new_model(name, DATASETS.get(dataset), torch.device("cpu"))
            except BenchError as exc:
                raise self.fail(where, str(exc)) from None
        return self._models[key]

    def _device(self, name: str) -> str:
        """The device type the runs are specified for: `auto` is this machine's (set `device` for a
        cluster whose nodes differ from it). Syntax only otherwise: a sweep may run where there are
        GPUs even if this machine has none."""
        import torch

        if name == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        try:
            device = torch.device(name)
        except RuntimeError:
            raise self.fail("", f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
        if device.type not in ("cpu", "cuda"):
            raise self.fail("", f"unsupported device {name!r} (use auto, cpu, cuda or cuda:N)")
        return device.type

    def _model_name(self, name: str) -> str:
        from bench.infra.registry import normalize
        from bench.models import MODELS

        return normalize(name) if name in MODELS else name

    def _dataset(self, name: str, where: str) -> str:
        from bench.data import DATASETS

        try:
            return DATASETS.get(name).name
        except BenchError as exc:
            raise self.fail(where, str(exc)) from None

    def _protocol(self, name: str, datasets: list[str], where: str):
        from bench.core.protocols import load_protocol, resolve
        from bench.data import DATASETS

        ref = str(self._path(name)) if name.endswith(".toml") or "/" in name else name
        try:
            protocol = load_protocol(ref)
            resolved = {
                d: resolve(protocol, DATASETS.get(d).recipe, flops_ratio=1.0 if protocol.budget == "flops" else None)
                for d in datasets
            }
        except BenchError as exc:
            raise self.fail(where, str(exc)) from None
        return ref, protocol, resolved

    def _hp_grid(self, adapter_cls, value: Any, where: str) -> list[tuple[tuple[str, ...], object]]:
        """Every combination of the listed values: [(("k=v", ...), Hparams), ...]."""
        from bench.pruning import parse_hparams

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

    def _targets(self, entry: dict, where: str) -> list[Target]:
        targets: list[Target] = []
        try:
            for r in self._list(entry.get("ratios", []), "ratios", where, (int, float), "a number") if "ratios" in entry else []:
                targets.append(Target(ratio=float(r)))
            for r in self._list(entry["speedups"], "speedups", where, (int, float), "a number") if "speedups" in entry else []:
                targets.append(Target(speedup=float(r)))
            for c in self._list(entry["compress_rates"], "compress_rates", where, (str,), "a string") if "compress_rates" in entry else []:
                targets.append(Target(compress_rate=parse_compress_rate(c)))
            for c in self._list(entry["configs"], "configs", where, (str,), "a string") if "configs" in entry else []:
                targets.append(Target(config=c))
        except BenchError as exc:
            raise self.fail(where, str(exc)) from None
        return targets or [Target(ratio=defaults.RATIO)]

    def _check_target(self, adapter, target: Target, model: str, dataset: str, where: str, layout: str | None = None) -> None:
        """Per-layer targets and layouts must fit the model; a ratio in the adapter's own layout fits
        every model (its range is checked by Target)."""
        import torch

        from bench import api
        from bench.data import DATASETS
        from bench.pruning.cost import check_reach
        from bench.pruning.engine import check_target

        key = (adapter.name, target, model, dataset, layout)
        if (target.ratio is not None and layout is None) or key in self._checked:
            return
        self._checked.add(key)
        spec = DATASETS.get(dataset)
        inputs = api.example_inputs(spec, torch.device("cpu"))
        try:
            check_target(self._model(model, dataset, where), model, adapter, target, inputs, layout)
            if target.speedup is not None:
                check_reach(self._model(model, dataset, where), model, adapter, target.speedup, example_inputs=inputs, layout=layout)
        except BenchError as exc:
            raise self.fail(where, f"{target.describe()} on {model}: {exc}") from None

    # --- expansion ------------------------------------------------------------------------------

    def grid(self) -> Grid:
        from bench.pruning import get_adapter

        self._keys(self.data, GRID_KEYS, "")
        models = [self._model_name(m) for m in self._list(self.data.get("models", [defaults.MODEL]), "models", "", (str,), "a model name")]
        datasets = [self._dataset(d, "datasets") for d in self._list(self.data.get("datasets", [defaults.DATASET]), "datasets", "", (str,), "a dataset name")]
        protocols = self._list(self.data.get("protocols", [defaults.PROTOCOL]), "protocols", "", (str,), "a protocol name")
        seeds = self._seeds()
        random_control = self._scalar("random_control", (bool,), defaults.RANDOM_CONTROL, "true or false")
        allocation_control = self._scalar("allocation_control", (bool,), False, "true or false")
        dense_seed = self._scalar("dense_seed", (int,), defaults.DENSE_SEED, "an integer")
        split_seed = self._scalar("split_seed", (int,), defaults.SPLIT_SEED, "an integer")
        device = self._scalar("device", (str,), "auto", "a device name (auto, cpu, cuda, cuda:N)")
        device_type = self._device(device)
        threads = self._scalar("threads", (int, type(None)), None, "a thread count")
        if threads is not None and threads < 1:
            raise self.fail("", f"threads must be at least 1, got {threads}")
        spec_threads = (threads or self.default_threads) if device_type == "cpu" else None
        memory_format = self._scalar("memory_format", (str,), defaults.MEMORY_FORMAT, "a memory format")
        if memory_format not in defaults.MEMORY_FORMATS:
            raise self.fail("", f"memory_format must be one of {', '.join(defaults.MEMORY_FORMATS)}, got {memory_format!r}")
        data_root = self.data.get("data_root")
        if data_root is not None and not isinstance(data_root, str):
            raise self.fail("", f"data_root must be a folder path, got {data_root!r}")
        entries = self.data.get("adapters")
        if not entries:
            raise self.fail("", "no [[adapters]] entries: add at least one, e.g. [[adapters]] name = \"l1-norm\"")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self.fail("", "adapters must be an array of tables ([[adapters]] ... )")

        for p in protocols:  # here too, so that a bad top-level protocol is named as such
            self._protocol(p, datasets, "protocols")
        checkpoint_spec = self._checkpoint_spec()
        checkpoints: dict[str, Path] = {}
        digests: dict[Path, str] = {}

        runs: dict[str, Run] = {}
        duplicates = 0
        for i, entry in enumerate(entries):
            name = entry.get("name")
            where = f"adapters[{i}]" + (f" ({name})" if isinstance(name, str) else "")
            self._keys(entry, ADAPTER_KEYS, where)
            if not isinstance(name, str):
                raise self.fail(where, "needs name = \"<adapter>\" (see `bench list adapters`)")
            try:
                cls = get_adapter(name)
            except BenchError as exc:
                raise self.fail(where, str(exc)) from None
            e_models = [self._model_name(m) for m in self._list(entry.get("models", models), "models", where, (str,), "a model name")]
            e_datasets = [self._dataset(d, where) for d in self._list(entry.get("datasets", datasets), "datasets", where, (str,), "a dataset name")]
            e_protocols = self._list(entry.get("protocols", protocols), "protocols", where, (str,), "a protocol name")
            targets = self._targets(entry, where)
            hps = self._hp_grid(cls, entry.get("hp"), where)
            layouts = self._list(entry["layouts"], "layouts", where, (str,), "a layout name") if "layouts" in entry else [None]
            resolved = {p: self._protocol(p, e_datasets, where) for p in e_protocols}
            e_allocation = entry.get("allocation_control", allocation_control)
            if not isinstance(e_allocation, bool):
                raise self.fail(where, f"allocation_control must be true or false, got {e_allocation!r}")
            e_checkpoint = entry.get("checkpoint")
            if e_checkpoint is not None and not isinstance(e_checkpoint, str):
                raise self.fail(where, f"checkpoint must be a file path, got {e_checkpoint!r}")
            e_checkpoints: dict[str, Path] = {}  # model → this entry's dense weights
            for model, dataset in itertools.product(e_models, e_datasets):
                self._model(model, dataset, where)
                weights = self._path(e_checkpoint) if e_checkpoint is not None else self._checkpoint(checkpoint_spec, model)
                if weights is not None and not weights.is_file():
                    raise self.fail(where, f"checkpoint {weights} does not exist")
                if weights is not None:
                    self._check_checkpoint(model, dataset, weights, where)
                    e_checkpoints[model] = weights
                    if e_checkpoint is None:
                        checkpoints[model] = weights
                    digests.setdefault(weights, file_digest(weights))
            for target, (hp_text, hparams), layout, model, dataset, p in itertools.product(
                targets, hps, layouts, e_models, e_datasets, e_protocols
            ):
                adapter = cls(hparams)
                self._check_target(adapter, target, model, dataset, where, layout)
                ref, protocol, by_dataset = resolved[p]
                checkpoint = e_checkpoints.get(model)
                try:
                    spec = RunSpec(
                        adapter=cls.name, hparams=hparams, target=target, layout=layout, model=model, dataset=dataset,
                        split_seed=split_seed, protocol=ref, seeds=seeds, random_control=random_control,
                        allocation_control=e_allocation and cls.kind == "structured" and cls.name != "random",
                        dense_seed=dense_seed, checkpoint=str(checkpoint) if checkpoint else None,
                        checkpoint_sha256=digests[checkpoint] if checkpoint else None,
                        device=device_type, threads=spec_threads, memory_format=memory_format,
                    )
                except BenchError as exc:
                    raise self.fail(where, str(exc)) from None
                if spec.hash in runs:
                    duplicates += 1
                    continue
                r = by_dataset[dataset]
                runs[spec.hash] = Run(
                    spec=spec, hp=hp_text, epochs=r.epochs, epochs_exact=protocol.budget != "flops", batch_size=r.batch_size,
                    soft_epochs=_soft_epochs(adapter, dataset),
                )
        return Grid(
            path=self.source,
            runs=tuple(runs.values()),
            checkpoints=checkpoints,
            data_root=self._path(data_root) if data_root is not None else None,
            dense_seed=dense_seed,
            split_seed=split_seed,
            device=device,
            random_control=random_control,
            duplicates=duplicates,
            threads=threads,
        )

    def _check_checkpoint(self, model: str, dataset: str, path: Path, where: str) -> None:
        from bench import api

        key = ("checkpoint", model, dataset, path)
        if key in self._checked:
            return
        self._checked.add(key)
        try:
            api.load_checkpoint(self._model(model, dataset, where), path)
        except BenchError as exc:
            raise self.fail(where, f"{model} on {dataset}: {exc}") from None


def _hp_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)



def _soft_epochs(adapter, dataset: str) -> int:
    """Epochs of the adapter's soft pruning per seed on `dataset` (0: it has none)."""
    from bench.data import DATASETS
    from bench.evaluation.runs import (
        soft_schedule,  # torch-heavy, as the models the grid checks targets on
    )

    schedule = soft_schedule(adapter, DATASETS.get(dataset).recipe)
    return schedule.epochs if schedule else 0
