"""Crash-safe training checkpoints: atomic, checksummed, with the previous one kept as a fallback.

A checkpoint file is a 64-character SHA-256 hex digest, a newline, then a `torch.save` payload. A file
whose digest does not match (truncated by a crash, corrupted on disk) is never loaded: the previous
checkpoint is used instead, with a warning. Payloads load with `weights_only=True`.

Cadence: the training loop asks `due()` after every epoch. A checkpoint is due after the first epoch
a process trains (an unwritable run folder shows at once) and then once `every` seconds have passed
since the last save (default 60 s; 0 = every epoch). The loop also saves when it is stopped and
after the last epoch, so only a SIGKILL or a crash loses work: at most `every` seconds, replayed
exactly on resume.
"""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path
from typing import Any, Callable

import torch

from bench.errors import BenchError
from bench.infra.files import cannot_write, publish, stage

CURRENT, PREVIOUS = "checkpoint.pt", "checkpoint.prev.pt"
CHECKPOINT_EVERY = 60.0  # seconds between periodic checkpoints


class Checkpointer:
    def __init__(self, folder: str | Path, warn: Callable[[str], None] = lambda message: None, every: float = CHECKPOINT_EVERY):
        if not every >= 0:
            raise BenchError(f"checkpoint interval must be >= 0 seconds, got {every!r}")
        self.folder = Path(folder)
        self.warn = warn
        self.every = every
        self._last_save: float | None = None  # time.monotonic() of this object's last save
        self._current_good: bool | None = None  # whether CURRENT passes its checksum; None: not known yet

    def due(self) -> bool:
        """Whether a periodic checkpoint is due: none saved yet by this object, or `every` seconds passed."""
        return self._last_save is None or time.monotonic() - self._last_save >= self.every

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` as the current checkpoint; the one it replaces becomes the previous one.

        On a full disk the save fails with a one-line BenchError ("No space left on device") and
        changes nothing: no partial file, and the last good checkpoint stays where `load` finds it, so
        rerunning after freeing space resumes from it. The order keeps one good checkpoint on disk at
        every instant and needs room for two: the old previous one is deleted first (the good current
        one is the fallback meanwhile), the new one is written beside the current one, then renamed in.
        """
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
        current, previous = self.folder / CURRENT, self.folder / PREVIOUS
        try:
            if current.exists():
                if self._current_is_good():
                    previous.unlink(missing_ok=True)
                else:  # corrupt: never a fallback; keep the previous one, which may be good
                    current.unlink()
        except OSError as exc:
            raise cannot_write(current, exc) from None
        staged = stage(current, hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        if current.exists():
            try:  # atomic renames: the current checkpoint, then the new one, are always loadable
                current.replace(previous)
            except OSError as exc:
                staged.unlink(missing_ok=True)
                raise cannot_write(previous, exc) from None
        publish(staged, current)
        self._current_good = True
        self._last_save = time.monotonic()

    def _current_is_good(self) -> bool:
        if self._current_good is None:  # not loaded or saved by this object: check its digest
            self._current_good = _intact(self.folder / CURRENT)
        return self._current_good

    def load(self) -> dict[str, Any] | None:
        """The newest checkpoint that passes its checksum, or None."""
        for name in (CURRENT, PREVIOUS):
            path = self.folder / name
            if not path.exists():
                continue
            state = _read(path)
            if name == CURRENT:
                self._current_good = state is not None
            if state is not None:
                return state
            self.warn(f"warning: checkpoint {path} is corrupt or truncated; using the previous one")
        return None

    def clear(self) -> None:
        for name in (CURRENT, PREVIOUS):
            (self.folder / name).unlink(missing_ok=True)


def _payload(path: Path) -> bytes | None:
    """The payload of a checkpoint file whose digest matches, else None."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    digest, payload = blob[:64], blob[65:]
    if blob[64:65] != b"\n" or hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    return payload


def _intact(path: Path) -> bool:
    return _payload(path) is not None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        payload = _payload(path)
        return None if payload is None else torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception:  # any unreadable file is treated like a corrupt one: fall back
        return None


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's tensors (name, dtype, shape and bytes, in name order): the identity
    of a set of weights, whatever file or device they came from."""
    h = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}:".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
