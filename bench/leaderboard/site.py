"""The whole output folder as {relative path: text}, written all or nothing (every changed file staged,
then renamed into place), pruned of stale files, or compared byte for byte with what is on disk
(`--check`)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from bench.errors import BenchError
from bench.infra.files import publish, stage
from bench.leaderboard import board, export, html, markdown
from bench.leaderboard.board import Board
from bench.leaderboard.group import Group
from bench.leaderboard.load import Rejection, load_folder
from bench.leaderboard.plots import budget_svg, pareto_svg
from bench.leaderboard.table import Links

_STATIC = (".js", ".css", ".svg")
# Files in the output folder that belong to the generator: anything else there is left alone.
OWNED = (
    "README.md", "index.html", "leaderboard.json", "groups/*.html", "groups/*.svg",
    *(f"static/*{suffix}" for suffix in _STATIC),
)


@dataclass(frozen=True)
class Site:
    files: dict[str, str]
    board: Board

    @property
    def groups(self) -> list[Group]:
        return self.board.groups

    @property
    def rejected(self) -> list[Rejection]:
        return self.board.rejected


def _static() -> dict[str, str]:
    folder = files("bench.leaderboard").joinpath("static")
    return {f"static/{f.name}": f.read_text(encoding="utf-8") for f in folder.iterdir() if f.name.endswith(_STATIC)}


def build(submissions: Path, links: Links, exclude: Path | None = None) -> Site:
    if not submissions.is_dir():
        raise BenchError(f"submissions folder {submissions} does not exist")
    b = board.build(*load_folder(submissions, exclude))
    out = {
        "README.md": markdown.render(b, links),
        "index.html": html.index_page(b),
        "leaderboard.json": export.render(b, links),
        **_static(),
    }
    for g in b.groups:
        out[f"groups/{g.slug}.html"] = html.group_page(b, g, links)
    for f in b.families:
        out[f"groups/{f.slug}.svg"] = pareto_svg(f)
    for v in b.budgets:
        out[f"groups/{v.slug}.svg"] = budget_svg(v)
    return Site(dict(sorted(out.items())), b)


def owned_files(out: Path) -> list[str]:
    found = {p.relative_to(out).as_posix() for pattern in OWNED for p in out.glob(pattern) if p.is_file()}
    return sorted(found)


def write(site: Site, out: Path) -> None:
    """Update the output folder to `site`, as a whole or not at all as far as space goes.

    Every file whose content changed is first written in full to a temp file beside it (flushed to
    disk); only when all of them are written are they renamed into place, and then generated files
    that no submission produces any more are deleted. A write that fails while staging (a full disk:
    "No space left on device") removes the staged files and leaves every page as it was, so the
    folder never mixes old and new pages. The renames need no space; each is atomic, but a crash or a
    failed rename among them can leave a mix of old and new pages, which rerunning the same command
    (or `--check`) puts right.
    """
    if out.exists() and not out.is_dir():
        raise BenchError(f"cannot write the leaderboard to {out}: not a folder")
    changed = {}
    for name, text in site.files.items():
        data = text.encode("utf-8")
        path = out / name
        if not (path.is_file() and path.read_bytes() == data):
            changed[path] = data
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in changed.items():
            staged.append((stage(path, data), path))
        while staged:
            tmp, path = staged[0]
            publish(tmp, path)
            staged.pop(0)
    finally:
        for tmp, _ in staged:  # not renamed into place: a failed write, or an interruption
            tmp.unlink(missing_ok=True)
    for name in owned_files(out):
        if name not in site.files:
            try:
                (out / name).unlink()
            except OSError as exc:
                raise BenchError(f"cannot delete {out / name}: {exc.strerror or exc}") from None


def compare(site: Site, out: Path) -> list[str]:
    """Relative paths whose content on disk differs from `site`, each with why."""
    found = []
    for name, text in site.files.items():
        path = out / name
        if not path.is_file():
            found.append(f"{name} (missing)")
        elif path.read_bytes() != text.encode("utf-8"):
            found.append(name)
    found += [f"{name} (no longer generated)" for name in owned_files(out) if name not in site.files]
    return found
