"""The static leaderboard: a pure, fast function of the submission records.

Never imports torch or training code (bench.api, bench.core.train, bench.models, bench.pruning,
bench.data), so that it runs anywhere the records are, e.g. in CI for every submission.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from bench.core.config import canonical_json
from bench.core.shipped import unshared_warning
from bench.errors import BenchError

if TYPE_CHECKING:  # the heavy modules load only when a leaderboard is built
    from bench.leaderboard.load import Rejection
    from bench.leaderboard.site import Site

DEFAULT_SOURCE_URL = "https://github.com/prunebench/prunebench/blob/main/"
_URL = re.compile(r"^https?://[^\s<>\"'()\\]+$")


def _base_url(url: str | None) -> str:
    url = DEFAULT_SOURCE_URL if url is None else url
    if not _URL.match(url):
        raise BenchError(f"--source-url must be an http(s) URL without spaces, quotes or brackets, got {url!r}")
    return url if url.endswith("/") else url + "/"


def _build(submissions: str | Path, out: str | Path, source_url: str | None) -> Site:
    from bench.leaderboard import site
    from bench.leaderboard.table import Links

    out, submissions = Path(out).resolve(), Path(submissions)
    if submissions.resolve().is_relative_to(out):
        raise BenchError(f"--out {out} must not be (or contain) the submissions folder {submissions}")
    links = Links.repository(_base_url(source_url))
    if source_url is None and submissions.resolve() != Path("submissions").resolve():
        # A local build of another folder: its records are not in the repository, so link the files.
        links = Links(links.source, submissions.resolve().as_uri() + "/")
    # An output folder inside the submissions folder must not be read back as submissions.
    return site.build(submissions, links, exclude=out)


def rejection_lines(submissions: str | Path, rejected: list[Rejection]) -> list[str]:
    return [f"rejected: {(Path(submissions) / r.file).as_posix()}: {reason}" for r in rejected for reason in r.reasons]


def generate(
    submissions: str | Path = "submissions", out: str | Path = "leaderboard", source_url: str | None = None
) -> Site:
    """Write the leaderboard for the good submissions; returns the `Site` (its `rejected` lists the bad files)."""
    from bench.leaderboard import site

    built = _build(submissions, out, source_url)
    site.write(built, Path(out))
    return built


def check(
    submissions: str | Path = "submissions", out: str | Path = "leaderboard", source_url: str | None = None
) -> list[str]:
    """One line per problem: a stale or missing output file, or a rejected submission. Writes nothing."""
    from bench.leaderboard import site

    built = _build(submissions, out, source_url)
    stale = [f"stale: {(Path(out) / name).as_posix()}" for name in site.compare(built, Path(out))]
    return stale + rejection_lines(submissions, built.rejected)


def baseline_warnings(site: Site) -> list[str]:
    """One line per record whose dense baseline no other record shares: it can only be ranked alone."""
    by_baseline: dict[str, tuple[dict, dict]] = {}  # baseline → (its key, file → entry)
    for g in site.groups:
        by_baseline.setdefault(canonical_json(g.baseline), (g.baseline, {}))[1].update({e.file: e for e in g.entries})
    lines = []
    for baseline, entries in by_baseline.values():
        if len(entries) == 1:
            ((file, e),) = entries.items()
            line = unshared_warning(baseline.get("dense_weights"), baseline["model"], baseline["dataset"]["name"], e.adapter, file)
            lines += [line] if line else []
    return lines


__all__ = ["DEFAULT_SOURCE_URL", "baseline_warnings", "check", "generate", "rejection_lines"]
