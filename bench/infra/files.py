"""Writing files so that a crash or a full disk never leaves a half-written one: output folders checked
up front, content staged in a temp file beside its destination, flushed, then renamed over it. Every
failure is one line naming the path (BenchError)."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from bench.errors import BenchError


def ensure_dir(path: str | Path) -> Path:
    """Create an output folder up front, so a read-only or blocked location fails before hours of work."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-")
        probe.close()
    except OSError as exc:
        raise BenchError(f"cannot write to {path}: {exc.strerror or exc}") from None
    return path


def cannot_write(path: str | Path, exc: OSError) -> BenchError:
    """The one-line error for a failed write: the path and the system's reason (for a full disk,
    "No space left on device" and what to do about it)."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += "; free some space, then rerun the same command"
    return BenchError(f"cannot write {path}: {reason}")


def stage(path: str | Path, content: str | bytes) -> Path:
    """Write `content` to a new temp file beside `path`, flushed to disk, and return the temp file's
    path (rename it over `path` to publish it). On any failure, a full disk included, the temp file is
    removed, `path` is untouched and a BenchError names `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        data = content.encode("utf-8") if isinstance(content, str) else content
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; published files get the usual permissions
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise cannot_write(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def publish(tmp: Path, path: str | Path) -> Path:
    """Rename a file from `stage` over `path` (atomic: readers see the old file or the new one)."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise cannot_write(path, exc) from None
    return Path(path)


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write to a temp file in the same folder, flush to disk, then rename over `path`. A failure (a
    full disk included) leaves `path` as it was, no temp file, and a one-line BenchError."""
    return publish(stage(path, content), path)
