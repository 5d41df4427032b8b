"""leaderboard/README.md (bench/leaderboard/markdown.py): every entry with its n and interval, the method
stated, and record text escaped so that it stays text."""

from __future__ import annotations

import pytest
import scipy.stats

from bench.leaderboard import generate
from bench.leaderboard.markdown import md

from tests.helpers.payloads import PAYLOADS
from tests.leaderboard.builders import A, B, groups_of, make, md_rows, put


def test_every_entry_shows_n_and_its_interval(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a", runs=A, control_runs=B))
    generate(subs, subs.parent / "lb")
    ci = scipy.stats.t.interval(0.95, 4, loc=sum(A) / 5, scale=scipy.stats.sem(A))
    level = groups_of(subs)[0].level.text  # the heading of the one level, however levels are titled
    (row,) = md_rows((subs.parent / "lb" / "README.md").read_text().split(f"### {level}")[1])
    assert row[6:9] == [f"{sum(A) / 5:.2f} ± {scipy.stats.tstd(A):.2f}", "5", f"\\[{ci[0]:.2f}, {ci[1]:.2f}\\]"]
    for out in ("README.md", "index.html"):
        assert "paired t interval" in (subs.parent / "lb" / out).read_text()  # the method is stated


def test_record_text_cannot_become_markdown_or_html():
    assert md("a|b") == r"a\|b" and md("[x](javascript:1)") == r"\[x\](javascript:1)"
    assert md("<img src=x>") == "&lt;img src=x&gt;" and md("**bold** _it_ `code`") == r"\*\*bold\*\* \_it\_ \`code\`"
    assert md("two\nlines") == "two lines"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_payload_renders_as_its_own_text_and_nothing_else(payload):
    """Rendered by a CommonMark parser that passes raw HTML through (as a code host's does within its
    allow-list), `md(payload)` is one paragraph of plain text that reads as the payload: no link, image,
    HTML, code or emphasis."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("strikethrough").enable("table").parse(md(payload))
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    children = tokens[1].children
    assert {c.type for c in children} <= {"text"}, [c.type for c in children]
    assert "".join(c.content for c in children) == payload.replace("\n", " ")
