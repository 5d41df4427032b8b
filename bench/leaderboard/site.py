"""The whole output folder as {relative path: text}, written atomically, pruned of stale files,
or compared byte for byte with what is on disk (`--check`)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from bench.errors import BenchError
from bench.leaderboard import export, html, markdown
from bench.leaderboard.group import Group, build_groups
from bench.leaderboard.load import Rejection, load_folder
from bench.leaderboard.plots import scatter_svg
from bench.leaderboard.sensitivity import Table, sensitivity
from bench.records import write_atomic

_STATIC = (".js", ".css", ".svg")
# Files in the output folder that belong to the generator: anything else there is left alone.
OWNED = (
    "README.md", "index.html", "leaderboard.json", "groups/*.html", "groups/*.svg",
    *(f"static/*{suffix}" for suffix in _STATIC),
)


@dataclass(frozen=True)
class Site:
    files: dict[str, str]
    groups: list[Group]
    sensitivity: list[Table]
    rejected: list[Rejection]


def _static() -> dict[str, str]:
    folder = files("bench.leaderboard").joinpath("static")
    return {f"static/{f.name}": f.read_text(encoding="utf-8") for f in folder.iterdir() if f.name.endswith(_STATIC)}


def build(submissions: Path, source_url: str, exclude: Path | None = None) -> Site:
    if not submissions.is_dir():
        raise BenchError(f"submissions folder {submissions} does not exist")
    good, rejected = load_folder(submissions, exclude)
    groups = build_groups(good)
    tables = sensitivity(groups)
    out = {
        "README.md": markdown.render(groups, tables, rejected, source_url),
        "index.html": html.index_page(groups, tables, rejected),
        "leaderboard.json": export.render(groups, tables, rejected, source_url),
        **_static(),
    }
    for g in groups:
        out[f"groups/{g.slug}.html"] = html.group_page(g, source_url)
        out[f"groups/{g.slug}.svg"] = scatter_svg(g)
    return Site(dict(sorted(out.items())), groups, tables, rejected)


def owned_files(out: Path) -> list[str]:
    found = {p.relative_to(out).as_posix() for pattern in OWNED for p in out.glob(pattern) if p.is_file()}
    return sorted(found)


def write(site: Site, out: Path) -> None:
    """Write what changed (atomically), then delete generated files no submission produces any more."""
    if out.exists() and not out.is_dir():
        raise BenchError(f"cannot write the leaderboard to {out}: not a folder")
    for name, text in site.files.items():
        path = out / name
        if not (path.is_file() and path.read_bytes() == text.encode("utf-8")):
            write_atomic(path, text)
    for name in owned_files(out):
        if name not in site.files:
            (out / name).unlink()


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
