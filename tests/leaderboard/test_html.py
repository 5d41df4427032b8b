"""index.html and the group pages (bench/leaderboard/html.py): self-contained, autoescaped, settings shown
readably, linked to the adapters' sources."""

from __future__ import annotations

import json

import pytest

from bench.leaderboard import generate, html
from bench.leaderboard.table import Links

from tests.helpers.payloads import PAYLOADS
from tests.leaderboard.builders import board_of, make, put, put_mixed


def test_pages_are_self_contained_and_link_sources(subs, example_record):
    put_mixed(subs, example_record)
    out = subs.parent / "lb"
    generate(subs, out, source_url="https://example.org/repo/tree/v1")
    pages = [out / "index.html", *(out / "groups").glob("*.html")]
    for page in pages:
        text = page.read_text()
        assert 'static/style.css"' in text and 'static/sortable.js"' in text
        assert 'src="http' not in text and "<link rel=\"stylesheet\" href=\"http" not in text
    linked = "".join(p.read_text() for p in pages[1:])
    assert '<a href="https://example.org/repo/tree/v1/adapters/l1_norm.py">a</a>' in linked
    data = json.loads((out / "leaderboard.json").read_text())
    assert [len(g["ranked"]) for g in data["groups"]] == [2, 2] and len(data["sensitivity"]) == 1
    assert data["groups"][0]["diverged"][0]["adapter"] == "e"


def test_group_pages_show_float_settings_readably(subs, example_record, tmp_path, cli):
    record = make(example_record)
    record["protocol"]["lr_min"] = 0.1 * 0.1 * 0.1  # 0.0010000000000000002 in binary floating point
    put(subs, "a.json", record)
    code, _, _ = cli("leaderboard", "--submissions", str(subs), "--out", str(tmp_path / "site"))
    (page,) = (tmp_path / "site" / "groups").glob("*.html")
    assert code == 0 and "lr_min=0.001," in page.read_text() and "0.0010000000000000002" not in page.read_text()


def test_record_text_is_escaped_on_every_page(subs, example_record):
    put(subs, "a.json", make(example_record, adapter="a", paper="Smith & Jones <2019>"))
    b = board_of(subs)
    (group,) = b.groups
    page = html.group_page(b, group, Links.repository("https://example.org/"))
    assert "Smith &amp; Jones &lt;2019&gt;" in page and "<2019>" not in page
    assert 'id="ranking"' in page and page.count("<tr>") >= 2
    assert html._value(0.1 * 0.1 * 0.1) == "0.001" and html._value(3) == 3
    assert "<h2>Groups</h2>" in html.index_page(b)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_pages_escaper_keeps_every_payload_text_in_text_and_in_attributes(payload):
    """The HTML pages' one escaper is jinja2's autoescape, on for every template (html._env)."""
    from html.parser import HTMLParser

    page = html._env().from_string('<p title="{{ x }}">{{ x }}</p>').render(x=payload)
    seen: list = []

    class Reader(HTMLParser):
        def handle_starttag(self, tag, attrs):
            seen.append((tag, dict(attrs)))

        def handle_data(self, data):
            seen.append(data)

        def handle_comment(self, data):
            seen.append(("comment", data))

    reader = Reader(convert_charrefs=True)
    reader.feed(page)
    reader.close()
    assert seen[0] == ("p", {"title": payload}) and "".join(seen[1:]) == payload
