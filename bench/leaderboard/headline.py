"""The answer the home page opens with, in plain words computed from the evidence (never written by
hand), and the list of collapsed runs it counts."""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.records import COLLAPSE_LOSS, COLLAPSE_POINTS
from bench.leaderboard.entries import BEATEN, BEATS, Entry
from bench.leaderboard.findings import Findings
from bench.leaderboard.group import Group
from bench.leaderboard.verdicts import Power

HEALTH = (
    f"A run that finished without diverging but learnt next to nothing is marked collapsed: its test "
    f"top-1 is at most {COLLAPSE_POINTS:g} points above chance (100 / classes), or its last training loss is within "
    f"{COLLAPSE_LOSS:.0%} of ln(classes), what a uniform guess scores, or above it. A collapsed run stays in every "
    "mean (dropping it would flatter its arm) and is shown beside its entry."
)


@dataclass(frozen=True)
class Collapsed:
    file: str
    arm: str  # "method" or "random control"
    seed: int
    top1: float


def collapsed_runs(groups: list[Group]) -> list[Collapsed]:
    found = {Collapsed(e.file, arm, seed, top1) for g in groups for e in g.entries
             for arm, runs in (("method", e.collapsed), ("random control", e.control_collapsed))
             for seed, top1 in runs.items()}
    return sorted(found, key=lambda c: (c.file, c.arm, c.seed))


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _share(k: int, n: int) -> str:
    """How many of n, in words: 'all', 'most', 'about half of the', 'some', 'none of the'."""
    if k == n:
        return "all"
    if k == 0:
        return "none of the"
    return "most" if k > 0.6 * n else "about half of the" if k >= 0.4 * n else "some"


def _counts(tests: list[Entry]) -> tuple[int, int, int]:
    """(beat, beaten, tied) after Holm."""
    beat = sum(e.survives and e.status == BEATS for e in tests)
    beaten = sum(e.survives and e.status == BEATEN for e in tests)
    return beat, beaten, len(tests) - beat - beaten


def _setting(name: str, groups: list[Group]) -> str:
    levels = sorted({g.level.text for g in groups})
    tests = [e for g in groups for e in g.ranked if e.tested]
    if not tests:
        return f"On {name}, at {_n(len(levels), 'cost')}, no method has a control to be tested against."
    clr = [e for g in groups for e in g.ranked if e.tested and g.protocol["schedule"] == "clr"]
    shown, under = (clr, "under CLR") if clr else (tests, "under every protocol")
    beat, beaten, tied = _counts(shown)
    levels = sorted({g.level.text for g in groups if any(e.tested for e in g.ranked)})
    out = (f"On {name}, at {_n(len(levels), 'cost')}, {_share(tied, len(shown))} methods are tied with random "
           f"pruning {under}: after Holm, {beat} of {len(shown)} beat their random control and {beaten} are beaten by it.")
    if clr:
        beat, beaten, _ = _counts(tests)
        out += f" Under every protocol together: {beat} of {len(tests)} beat it and {beaten} are beaten, after Holm."
    return out


def _claims(found: Findings) -> str:
    one, two = found.claim1, found.claim2
    out = []
    if one:
        holds = sum(f.survives and f.diff.sign == 1 for f in one)
        skipped = sum(s.comparisons for s in found.same)
        same = f" ({skipped} comparisons of a schedule identical to FT not tested)" if skipped else ""
        out.append(f"A restarting schedule beats fine-tuning at the same budget (claim 1) in {holds} of {len(one)} "
                   f"tests after Holm{same}.")
    if two:
        better = sum(f.survives and f.diff.sign == 1 for f in two)
        worse = sum(f.survives and f.diff.sign == -1 for f in two)
        out.append(f"Random pruning with CLR against a method with FT (claim 2): better after Holm in {better} of "
                   f"{len(two)} tests, worse in {worse}, not told apart in {len(two) - better - worse}.")
    return " ".join(out)


def _health(groups: list[Group], power: dict[str, Power]) -> str:
    runs = collapsed_runs(groups)
    tables = [g for g in groups if g.slug in power]
    saturated = sum(power[g.slug].saturated for g in tables)
    out = (f"{_n(len(runs), 'run')} in {_n(len({c.file for c in runs}), 'record')} collapsed to near chance (kept in the means, "
           "flagged beside their entries). ") if runs else "No run collapsed. "
    return out + (f"{saturated} of {len(tables)} ranked tables are saturated: every method there lies within the "
                  "smallest difference its seeds can detect of its random control.")


def summary(groups: list[Group], found: Findings, same: dict[str, str], power: dict[str, Power]) -> list[str]:
    """The home page's opening sentences, from the board's parts (bench.leaderboard.board.Board)."""
    if not groups:
        return ["No submissions yet."]
    settings: dict[str, list[Group]] = {}
    for g in groups:
        if g.slug not in same:
            settings.setdefault(f"{g.dataset} · {g.model}", []).append(g)
    return [_setting(name, members) for name, members in settings.items()] + [
        s for s in (_claims(found), _health(groups, power)) if s]
