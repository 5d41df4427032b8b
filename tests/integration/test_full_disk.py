"""A real full disk (issue 16): a size-limited tmpfs that fills up while a checkpoint, a record or the
leaderboard is written. Each write fails with one line and exit 2, leaves no partial file and keeps
the previous checkpoint / record / pages; after freeing space, the same command resumes and finishes
with the same record.

Mounting needs root and Linux (CI runs the tests as root); elsewhere these tests are skipped.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.core.checkpoint import CURRENT, PREVIOUS, Checkpointer
from bench.core.protocols import resolve
from bench.infra.files import write_atomic
from bench.data.digits import DIGITS_RECIPE
from bench.errors import BenchError

from tests.helpers.paths import HISTORIC_RECORD
from tests.helpers.processes import run_bench, start_bench, without_timings


ENOSPC = os.strerror(errno.ENOSPC)  # "No space left on device"


# --- a small real filesystem --------------------------------------------------------------------


class Disk:
    """A mounted tmpfs, and a filler file that takes its free space."""

    def __init__(self, root: Path):
        self.root = root
        self.filler = root / "filler"
        self.page = os.statvfs(root).f_frsize

    def free(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Take every free byte, then give back `leave` bytes (rounded up to whole pages)."""
        chunk = b"\xff" * (1 << 20)
        with open(self.filler, "ab", buffering=0) as handle:
            while True:
                try:
                    handle.write(chunk)  # a short write first, then ENOSPC
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        assert self.free() == 0, f"{self.root} still has {self.free()} bytes free"
        if leave:
            pages = -(-leave // self.page)
            os.truncate(self.filler, self.filler.stat().st_size // self.page * self.page - pages * self.page)
            assert self.free() == pages * self.page

    def release(self) -> None:
        self.filler.unlink()


def _mount(size: str, point: Path) -> str | None:
    """Mount a tmpfs of `size` on `point`; the reason it failed, or None."""
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)], capture_output=True, text=True
    )
    return None if proc.returncode == 0 else (proc.stderr.strip() or f"mount exited {proc.returncode}")


def _umount(point: Path) -> None:
    if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)  # busy: detach it anyway


@pytest.fixture(scope="module")
def mountable(tmp_path_factory) -> None:
    """Skip (before any training) where a tmpfs cannot be mounted: not Linux, not root, or a
    container without the right to mount (docker needs --privileged)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("a real full disk is tested on a Linux tmpfs only")
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root (CI runs these tests as root)")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount/umount not found")
    probe = tmp_path_factory.mktemp("mount-probe")
    why = _mount("64k", probe)
    if why is not None:
        pytest.skip(f"cannot mount a tmpfs here: {why}")
    _umount(probe)


@pytest.fixture
def small_disk(mountable, tmp_path):
    """`small_disk(size)`: a fresh tmpfs of `size` (e.g. "1m") mounted in tmp_path. Every mount is
    undone at teardown, whether the test passed or not."""
    mounted: list[Path] = []

    def mount(size: str, name: str = "disk") -> Disk:
        point = tmp_path / name
        point.mkdir()
        why = _mount(size, point)
        if why is not None:
            pytest.skip(f"cannot mount a tmpfs on {point}: {why}")
        mounted.append(point)
        return Disk(point)

    try:
        yield mount
    finally:
        for point in reversed(mounted):
            _umount(point)


def leftovers(folder: Path) -> list[str]:
    """Temp files anywhere under `folder` (what an interrupted atomic write would leave)."""
    return sorted(
        os.path.join(top, name) for top, _, names in os.walk(folder) for name in names
        if name.endswith(".tmp") or name.startswith(".write-test-")
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line_full_disk_error(proc: subprocess.CompletedProcess, path_part: str) -> str:
    """Exit 2, no traceback, and a last line `bench: error: cannot write …<path_part>…: No space left on device`."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    last = proc.stderr.strip().splitlines()[-1]
    assert errors == [last], proc.stderr
    assert last.startswith("bench: error: cannot write ") and path_part in last and ENOSPC in last, last
    return last


# --- the CLI in a subprocess ---------------------------------------------------------------------


def only_record(folder: Path) -> tuple[Path, dict]:
    (path,) = folder.rglob("*.json")
    return path, json.loads(path.read_text())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, dense_state_file):
    path = tmp_path_factory.mktemp("full-disk")
    shutil.copyfile(dense_state_file, path / "dense.pt")
    return path


def three_epochs() -> str:
    """The shortest fine-tuning protocol that trains 3 epochs on digits (budgets scale to the recipe)."""
    return next(f"ft-{n}" for n in range(3, 1000) if resolve(f"ft-{n}", DIGITS_RECIPE).epochs == 3)


def evaluate_args(workdir: Path, runs: Path, out: Path) -> list[str]:
    """A tiny evaluation: dense weights given, one seed, no control arm, 3 epochs of about a second."""
    return [
        "evaluate", "--adapter", "global-magnitude", "--protocol", three_epochs(), "--seeds", "1", "--ratio", "0.7",
        "--no-random-control", "--checkpoint", str(workdir / "dense.pt"), "--checkpoint-every", "0",
        "--runs-dir", str(runs), "--out", str(out),
    ]


@pytest.fixture(scope="module")
def reference(mountable, workdir):
    """The uninterrupted evaluation on an ordinary disk: (its runs dir, its records dir, its record file, the record)."""
    runs, out = workdir / "runs-reference", workdir / "out-reference"
    proc = run_bench(*evaluate_args(workdir, runs, out), cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    return (runs, out, *only_record(out))


# --- checkpoints ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_checkpoint_that_does_not_fit_fails_in_one_line_keeps_the_last_one_and_resumes(
    workdir, reference, small_disk, tmp_path
):
    disk = small_disk("32m")
    runs, out = disk.root / "runs", tmp_path / "out"
    args = evaluate_args(workdir, runs, out)

    # A first process checkpoints after its first epoch and is stopped (SIGTERM) in the second.
    proc = start_bench(*args, cwd=workdir)
    try:
        deadline = time.time() + 300
        while not list(runs.rglob(CURRENT)):
            if proc.poll() is not None:
                pytest.fail(f"the run ended (exit {proc.returncode}) before its first checkpoint: {proc.communicate()[1]}")
            assert time.time() < deadline, "no checkpoint after 300 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # never leave a process writing on the disk that teardown unmounts
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    (checkpoint,) = runs.rglob(CURRENT)
    run_dir = checkpoint.parent
    # With an older checkpoint present the save reuses its space: the disk bites when there is none.
    (run_dir / PREVIOUS).unlink(missing_ok=True)
    saved = checkpoint.read_bytes()
    saved_at = Checkpointer(run_dir).load()
    assert saved_at is not None and saved_at["epoch"] == 1  # stopped within the second epoch

    # The disk fills up; the rerun trains the rest of the epoch, and its checkpoint does not fit.
    disk.fill()
    failed = run_bench(*args, cwd=workdir)
    assert_one_line_full_disk_error(failed, str(run_dir / CURRENT))
    assert leftovers(disk.root) == []
    assert (run_dir / CURRENT).read_bytes() == saved  # the last good checkpoint, untouched
    loaded = Checkpointer(run_dir).load()
    assert (loaded["epoch"], loaded["batch"]) == (saved_at["epoch"], saved_at["batch"])
    assert not out.exists() or not list(out.rglob("*.json"))

    # Space freed: the same command resumes from it and writes the uninterrupted run's record.
    disk.release()
    loaded["seconds"] += 1000.0  # a tracer: training time adds up across resumes, never across restarts
    Checkpointer(run_dir).save(loaded)
    finished = run_bench(*args, cwd=workdir)
    assert finished.returncode == 0, finished.stderr
    _, record = only_record(out)
    expected = reference[3]
    assert record["method"]["runs"][0]["seconds"] >= 1000.0, "the rerun trained from scratch instead of resuming"
    assert without_timings(record) == without_timings(expected)
    assert [r["top1"] for r in record["method"]["runs"]] == [r["top1"] for r in expected["method"]["runs"]]
    assert leftovers(disk.root) == []


def test_a_full_disk_never_costs_the_last_good_checkpoint(small_disk):
    """In-process: a save that does not fit leaves a good current checkpoint current, and a corrupt
    current one (a crash) never displaces a good previous one: rotating it over the previous one
    before writing would lose every good checkpoint when the write then fails."""
    disk = small_disk("2m")
    folder = disk.root / "run"
    folder.mkdir()
    big = {"w": torch.arange(64 * 1024, dtype=torch.float32)}  # 256 KiB
    ckpt = Checkpointer(folder)
    ckpt.save({"epoch": 1, **big})
    ckpt.save({"epoch": 2, **big})
    disk.fill(leave=100 * 1024)
    with pytest.raises(BenchError) as info:
        Checkpointer(folder).save({"epoch": 3, "w": torch.zeros(3 * 64 * 1024)})  # 768 KiB: does not fit
    assert str(info.value) == f"cannot write {folder / CURRENT}: {ENOSPC}; free some space, then rerun the same command"
    assert leftovers(disk.root) == []
    assert Checkpointer(folder).load()["epoch"] == 2

    disk.release()
    ckpt = Checkpointer(folder)
    ckpt.clear()
    ckpt.save({"epoch": 4, **big})
    ckpt.save({"epoch": 5, **big})
    (folder / CURRENT).write_bytes(b"0" * 64 + b"\n" + b"truncated by a crash")  # epoch 5, lost
    disk.fill()
    warnings = []
    ckpt = Checkpointer(folder, warn=warnings.append)
    assert ckpt.load()["epoch"] == 4 and "corrupt" in warnings[0]
    with pytest.raises(BenchError, match=ENOSPC):
        ckpt.save({"epoch": 6, "w": torch.zeros(3 * 64 * 1024)})  # larger than the space the corrupt file had
    assert leftovers(disk.root) == []
    assert Checkpointer(folder).load()["epoch"] == 4  # the good previous checkpoint was not replaced


# --- records -------------------------------------------------------------------------------------


def test_write_atomic_on_a_full_disk_keeps_the_old_file(small_disk):
    disk = small_disk("1m")
    path = disk.root / "sub" / "record.json"
    write_atomic(path, "old\n")
    disk.fill(leave=8 * 1024)
    with pytest.raises(BenchError) as info:
        write_atomic(path, "new\n" * 10_000)
    assert str(info.value) == f"cannot write {path}: {ENOSPC}; free some space, then rerun the same command"
    assert "\n" not in str(info.value)
    assert path.read_text() == "old\n" and leftovers(disk.root) == []


@pytest.mark.slow
def test_a_record_that_does_not_fit_fails_in_one_line_keeps_the_others_and_reruns(workdir, reference, small_disk):
    runs, reference_out, reference_path, reference_record = reference
    disk = small_disk("1m")
    out = disk.root / "records"
    earlier = out / "earlier" / HISTORIC_RECORD.name  # a record already in the folder
    earlier.parent.mkdir(parents=True)
    shutil.copyfile(HISTORIC_RECORD, earlier)
    target = out / reference_path.relative_to(reference_out)
    args = evaluate_args(workdir, runs, out)  # every run is finished: only the record is written

    disk.fill()
    failed = run_bench(*args, cwd=workdir)
    assert_one_line_full_disk_error(failed, str(target))
    assert leftovers(disk.root) == []
    assert [p for p in out.rglob("*") if p.is_file()] == [earlier]  # no partial record
    assert earlier.read_bytes() == HISTORIC_RECORD.read_bytes()

    disk.release()
    finished = run_bench(*args, cwd=workdir)
    assert finished.returncode == 0, finished.stderr
    assert re.search(r"reusing .*finished run", finished.stderr), finished.stderr  # nothing trained again
    assert without_timings(json.loads(target.read_text())) == without_timings(reference_record)
    assert earlier.read_bytes() == HISTORIC_RECORD.read_bytes()
    assert leftovers(disk.root) == []


# --- the leaderboard -----------------------------------------------------------------------------


def another_record(example: dict) -> dict:
    """The real example record under another protocol: a new group, so every page changes."""
    record = json.loads(json.dumps(example))
    record["protocol"].update(name="clr-5", epochs=5)
    record["run_id"] = "0123456789ab"
    return record


@pytest.mark.slow  # a whole site written twice onto a tiny disk (9 s each)
@pytest.mark.parametrize("room", ["none", "first-page"])
def test_leaderboard_pages_that_do_not_fit_leave_the_old_site_whole(small_disk, tmp_path, example_record, room):
    """`room`: no byte free, or enough for the first changed page only (a page-by-page writer would
    then publish it and fail later, leaving a mix of old and new pages)."""
    from bench.leaderboard import generate

    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a.json").write_text(json.dumps(example_record))
    disk = small_disk("1m")
    site = disk.root / "site"
    args = ["leaderboard", "--submissions", str(subs), "--out", str(site)]
    first = run_bench(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    old = tree(site)

    (subs / "b.json").write_text(json.dumps(another_record(example_record)))
    generate(subs, tmp_path / "expected")
    new = tree(tmp_path / "expected")
    changed = [name for name, data in new.items() if old.get(name) != data]
    pages = lambda name: -(-len(new[name]) // disk.page)  # noqa: E731
    assert "README.md" in changed and any(name.startswith("groups/") and name not in old for name in changed)
    leave = 0 if room == "none" else pages(changed[0]) * disk.page
    assert sum(map(pages, changed)) * disk.page > leave

    disk.fill(leave=leave)
    failed = run_bench(*args, cwd=tmp_path)
    assert_one_line_full_disk_error(failed, str(site))
    assert leftovers(disk.root) == []
    assert tree(site) == old  # every old page as it was, no new one

    disk.release()
    finished = run_bench(*args, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert tree(site) == new
    assert run_bench("leaderboard", "--check", "--submissions", str(subs), "--out", str(site), cwd=tmp_path).returncode == 0
