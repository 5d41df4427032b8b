"""The dense checkpoints shipped with prunebench, which the reference records start from.

The same `bench train` on another CPU model trains other dense weights (the last bits of every kernel
differ), and records pruned from other weights never share a table. So the reference sweep starts
from weights committed to the repository (`submissions/dense/`, installed as `bench.schemas/dense`),
each listed in `index.toml` with the SHA-256 of its file and of its weights; a record made from one
of them on any machine joins the reference tables. A record whose dense baseline no other record
shares is pointed at the checkpoint to use instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from bench.infra import toml_files


@dataclass(frozen=True)
class Shipped:
    file: str  # inside the shipped folder
    model: str
    dataset: str
    sha256: str  # of the file: what a run's identity holds (`spec.checkpoint_sha256`)
    weights_sha256: str  # of the state dict: what a record's `dense.weights_sha256` holds
    adapter: str | None  # the adapter whose own baseline it is (slimming's penalised one); None: shared
    made_with: str  # the command that trained it

    @property
    def path(self) -> Path:
        return folder() / self.file

    @property
    def repository_path(self) -> str:
        return f"submissions/dense/{self.file}"


def folder() -> Path:
    try:
        return Path(str(resources.files("bench.schemas") / "dense"))
    except ModuleNotFoundError:  # a source checkout, or an editable install that does not map the folder
        return Path(__file__).resolve().parents[2] / "submissions" / "dense"


@lru_cache(maxsize=1)
def checkpoints() -> tuple[Shipped, ...]:
    index = folder() / "index.toml"
    if not index.is_file():
        return ()
    data = toml_files.read(index, "checkpoint index")
    return tuple(
        Shipped(c["file"], c["model"], c["dataset"], c["sha256"], c["weights_sha256"], c.get("adapter"), c["made_with"])
        for c in data.get("checkpoint", [])
    )


def for_run(model: str, dataset: str, adapter: str) -> Shipped | None:
    """The checkpoint a run of `adapter` on `model`/`dataset` should start from, if one ships."""
    fitting = [c for c in checkpoints() if c.model == model and c.dataset == dataset]
    own = [c for c in fitting if c.adapter == adapter]
    shared = [c for c in fitting if c.adapter is None]
    return (own or shared or [None])[0]


def by_sha256(sha256: str | None) -> Shipped | None:
    """The shipped checkpoint whose file has this SHA-256, if any."""
    return next((c for c in checkpoints() if c.sha256 == sha256), None) if sha256 else None


def is_shipped(weights_sha256: str) -> bool:
    return any(c.weights_sha256 == weights_sha256 for c in checkpoints())


def unshared_warning(weights_sha256: str | None, model: str, dataset: str, adapter: str, what: str) -> str | None:
    """A one-line warning for a record (`what`) whose dense weights no other record shares, so that it
    lands in tables of its own, naming the shipped checkpoint to start from instead."""
    if weights_sha256 is None or is_shipped(weights_sha256):
        return None
    suggestion = for_run(model, dataset, adapter)
    where = (f"; to join the reference tables start from the shipped checkpoint: --checkpoint {suggestion.repository_path}"
             if suggestion else "")
    return f"warning: the dense baseline of {what} (weights {weights_sha256[:12]}) is shared with no other record{where}"
